#include "controlplane/esp/replay_window.hpp"

namespace monami::esp {

ReplayWindow::ReplayWindow(std::uint32_t size, bool esn)
    : size_(size), esn_(esn), bitmap_(size / 32, 0) {}

std::optional<std::uint64_t> ReplayWindow::infer(std::uint32_t low) const {
    if (!esn_) return low;
    const auto top_low = static_cast<std::uint32_t>(highest_);
    const auto top_high = static_cast<std::uint32_t>(highest_ >> 32);
    // The window's bottom edge, modulo 2^32 as in Appendix A2.2.
    const std::uint32_t bottom = top_low - size_ + 1;
    std::uint64_t high = top_high;
    if (top_low >= size_ - 1) {
        // Case A: the window lies within one epoch; below it means the next epoch.
        if (low < bottom) {
            if (top_high == UINT32_MAX) return std::nullopt;
            high = std::uint64_t{top_high} + 1;
        }
    } else if (low >= bottom) {
        // Case B: the window straddles an epoch boundary; a number above its bottom edge
        // belongs to the previous epoch.
        if (top_high == 0) return std::nullopt;
        high = std::uint64_t{top_high} - 1;
    }
    return high << 32 | low;
}

bool ReplayWindow::seen(std::uint64_t sequence) const {
    const std::uint64_t bit = sequence % size_;
    return (bitmap_[bit / 32] >> (bit % 32) & 1u) != 0;
}

void ReplayWindow::mark(std::uint64_t sequence, bool value) {
    const std::uint64_t bit = sequence % size_;
    const std::uint32_t mask = 1u << (bit % 32);
    if (value) {
        bitmap_[bit / 32] |= mask;
    } else {
        bitmap_[bit / 32] &= ~mask;
    }
}

ReplayVerdict ReplayWindow::check(std::uint64_t sequence) const {
    if (sequence == 0) return ReplayVerdict::TooOld;
    if (size_ == 0 || sequence > highest_) return ReplayVerdict::Fresh;
    if (highest_ - sequence >= size_) return ReplayVerdict::TooOld;
    return seen(sequence) ? ReplayVerdict::Replayed : ReplayVerdict::Fresh;
}

void ReplayWindow::resume_after(std::uint64_t highest) {
    highest_ = highest;
    for (auto& word : bitmap_) word = ~0u;
}

void ReplayWindow::record(std::uint64_t sequence) {
    if (size_ == 0) {
        if (sequence > highest_) highest_ = sequence;
        return;
    }
    if (sequence > highest_) {
        const std::uint64_t advance = sequence - highest_;
        if (advance >= size_) {
            for (auto& word : bitmap_) word = 0;
        } else {
            // Slots that now stand for the new numbers highest+1..sequence start unseen.
            for (std::uint64_t s = highest_ + 1; s <= sequence; ++s) mark(s, false);
        }
        highest_ = sequence;
    }
    mark(sequence, true);
}

}  // namespace monami::esp
