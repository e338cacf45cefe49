// ESP anti-replay window (RFC 4303 s.3.4.3 and Appendix A). The receiver checks a
// sequence number before the ICV is verified and records it only afterwards, so forged
// packets cannot move the window.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace monami::esp {

enum class ReplayVerdict : std::uint8_t { Fresh, Replayed, TooOld };

class ReplayWindow {
  public:
    static constexpr std::uint32_t kMaxSize = 4096;

    // size: packets, a multiple of 32 up to kMaxSize; 0 disables the check (sequence
    // numbers are then only tracked). esn: 64-bit Extended Sequence Numbers.
    explicit ReplayWindow(std::uint32_t size = 64, bool esn = false);

    std::uint32_t size() const { return size_; }
    bool esn() const { return esn_; }
    // Highest sequence number recorded so far; 0 before the first packet.
    std::uint64_t highest() const { return highest_; }

    // The full sequence number a packet carrying `low` stands for. Without ESN that is
    // `low`; with ESN the high 32 bits are inferred from the window (Appendix A2.2).
    // nullopt: the inferred number would be before the start or past 2^64-1.
    std::optional<std::uint64_t> infer(std::uint32_t low) const;

    // Sequence number 0 is never sent (the first packet carries 1), so it is TooOld.
    ReplayVerdict check(std::uint64_t sequence) const;
    // Records a packet whose ICV verified; call only after check() returned Fresh.
    void record(std::uint64_t sequence);
    // After a restart: `highest` (a mark the binding store kept) and everything below it
    // count as seen, so no packet received before the restart is accepted again.
    void resume_after(std::uint64_t highest);

  private:
    bool seen(std::uint64_t sequence) const;
    void mark(std::uint64_t sequence, bool value);

    std::uint32_t size_;
    bool esn_;
    std::uint64_t highest_ = 0;
    // Bit (s mod size) stands for sequence number s within [highest-size+1, highest].
    std::vector<std::uint32_t> bitmap_;
};

}  // namespace monami::esp
