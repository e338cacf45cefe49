#include "controlplane/esp/crypto.hpp"

#include <intel-ipsec-mb.h>

#include <cstring>

#include "controlplane/esp/sa.hpp"

namespace monami::esp {

static_assert(sizeof(gcm_key_data) <= sizeof(GcmKeySchedule::storage));

namespace {

gcm_key_data* gcm_data(GcmKeySchedule& key) {
    return reinterpret_cast<gcm_key_data*>(key.storage.data());
}
const gcm_key_data* gcm_data(const GcmKeySchedule& key) {
    return reinterpret_cast<const gcm_key_data*>(key.storage.data());
}

// Submits one job and waits for it: this engine never has more than one in flight, so the
// job that comes back is ours.
bool run_job(IMB_MGR* manager) {
    IMB_JOB* done = IMB_SUBMIT_JOB(manager);
    if (done == nullptr) done = IMB_FLUSH_JOB(manager);
    return done != nullptr && done->status == IMB_STATUS_COMPLETED;
}

IMB_JOB* fresh_job(IMB_MGR* manager) {
    IMB_JOB* job = IMB_GET_NEXT_JOB(manager);
    std::memset(job, 0, sizeof(*job));
    return job;
}

bool cbc_job(IMB_MGR* manager, const CbcKeySchedule& key, IMB_CIPHER_DIRECTION direction,
             std::span<const std::uint8_t, kAesBlockBytes> iv, std::span<const std::uint8_t> in,
             std::span<std::uint8_t> out) {
    if (in.size() != out.size() || in.size() % kAesBlockBytes != 0) return false;
    if (in.empty()) return true;
    IMB_JOB* job = fresh_job(manager);
    job->cipher_mode = IMB_CIPHER_CBC;
    job->cipher_direction = direction;
    job->chain_order = direction == IMB_DIR_ENCRYPT ? IMB_ORDER_CIPHER_HASH : IMB_ORDER_HASH_CIPHER;
    job->hash_alg = IMB_AUTH_NULL;
    job->enc_keys = key.encrypt.data();
    job->dec_keys = key.decrypt.data();
    job->key_len_in_bytes = key.key_bytes;
    job->src = in.data();
    job->dst = out.data();
    job->cipher_start_src_offset_in_bytes = 0;
    job->msg_len_to_cipher_in_bytes = in.size();
    job->iv = iv.data();
    job->iv_len_in_bytes = kAesBlockBytes;
    return run_job(manager);
}

}  // namespace

GcmKeySchedule::~GcmKeySchedule() {
    secure_zero(storage.data(), storage.size());
}
CbcKeySchedule::~CbcKeySchedule() {
    secure_zero(encrypt.data(), encrypt.size());
    secure_zero(decrypt.data(), decrypt.size());
}
HmacSha256Key::~HmacSha256Key() {
    secure_zero(inner_state.data(), inner_state.size());
    secure_zero(outer_state.data(), outer_state.size());
}

std::unique_ptr<CryptoEngine> CryptoEngine::create() {
    IMB_MGR* manager = alloc_mb_mgr(0);
    if (manager == nullptr) return nullptr;
    IMB_ARCH architecture = IMB_ARCH_NONE;
    init_mb_mgr_auto(manager, &architecture);
    if (imb_get_errno(manager) != 0) {
        free_mb_mgr(manager);
        return nullptr;
    }
    return std::unique_ptr<CryptoEngine>(new CryptoEngine(manager, architecture));
}

CryptoEngine::CryptoEngine(IMB_MGR* manager, int architecture)
    : manager_(manager), architecture_(architecture) {}

CryptoEngine::~CryptoEngine() {
    free_mb_mgr(manager_);
}

std::string_view CryptoEngine::architecture() const {
    switch (architecture_) {
        case IMB_ARCH_NOAESNI:
            return "no-aesni";
        case IMB_ARCH_SSE:
            return "sse";
        case IMB_ARCH_AVX:
            return "avx";
        case IMB_ARCH_AVX2:
            return "avx2";
        case IMB_ARCH_AVX512:
            return "avx512";
        default:
            return "unknown";
    }
}

bool CryptoEngine::expand_gcm_key(std::span<const std::uint8_t> key, GcmKeySchedule& out) {
    if (key.size() == 16) {
        IMB_AES128_GCM_PRE(manager_, key.data(), gcm_data(out));
    } else if (key.size() == 32) {
        IMB_AES256_GCM_PRE(manager_, key.data(), gcm_data(out));
    } else {
        return false;
    }
    out.key_bytes = key.size();
    return true;
}

bool CryptoEngine::expand_cbc_key(std::span<const std::uint8_t> key, CbcKeySchedule& out) {
    if (key.size() == 16) {
        IMB_AES_KEYEXP_128(manager_, key.data(), out.encrypt.data(), out.decrypt.data());
    } else if (key.size() == 32) {
        IMB_AES_KEYEXP_256(manager_, key.data(), out.encrypt.data(), out.decrypt.data());
    } else {
        return false;
    }
    out.key_bytes = key.size();
    return true;
}

void CryptoEngine::expand_hmac_sha256_key(std::span<const std::uint8_t> key, HmacSha256Key& out) {
    constexpr std::size_t kBlock = 64;
    alignas(16) std::array<std::uint8_t, kBlock> block{};
    if (key.size() > kBlock) {
        IMB_SHA256(manager_, key.data(), key.size(), block.data());
    } else if (!key.empty()) {
        std::memcpy(block.data(), key.data(), key.size());
    }
    alignas(16) std::array<std::uint8_t, kBlock> padded{};
    for (std::size_t i = 0; i < kBlock; ++i) padded[i] = block[i] ^ 0x36;
    IMB_SHA256_ONE_BLOCK(manager_, padded.data(), out.inner_state.data());
    for (std::size_t i = 0; i < kBlock; ++i) padded[i] = block[i] ^ 0x5c;
    IMB_SHA256_ONE_BLOCK(manager_, padded.data(), out.outer_state.data());
    secure_zero(block.data(), block.size());
    secure_zero(padded.data(), padded.size());
}

void CryptoEngine::gcm_encrypt(const GcmKeySchedule& key,
                               std::span<const std::uint8_t, kGcmNonceBytes> nonce,
                               std::span<const std::uint8_t> aad, std::span<const std::uint8_t> in,
                               std::span<std::uint8_t> out,
                               std::span<std::uint8_t, kGcmTagBytes> tag) {
    gcm_context_data context;
    if (key.key_bytes == 16) {
        IMB_AES128_GCM_ENC(manager_, gcm_data(key), &context, out.data(), in.data(), in.size(),
                           nonce.data(), aad.data(), aad.size(), tag.data(), tag.size());
    } else {
        IMB_AES256_GCM_ENC(manager_, gcm_data(key), &context, out.data(), in.data(), in.size(),
                           nonce.data(), aad.data(), aad.size(), tag.data(), tag.size());
    }
    secure_zero(&context, sizeof(context));
}

void CryptoEngine::gcm_decrypt(const GcmKeySchedule& key,
                               std::span<const std::uint8_t, kGcmNonceBytes> nonce,
                               std::span<const std::uint8_t> aad, std::span<const std::uint8_t> in,
                               std::span<std::uint8_t> out,
                               std::span<std::uint8_t, kGcmTagBytes> tag) {
    gcm_context_data context;
    if (key.key_bytes == 16) {
        IMB_AES128_GCM_DEC(manager_, gcm_data(key), &context, out.data(), in.data(), in.size(),
                           nonce.data(), aad.data(), aad.size(), tag.data(), tag.size());
    } else {
        IMB_AES256_GCM_DEC(manager_, gcm_data(key), &context, out.data(), in.data(), in.size(),
                           nonce.data(), aad.data(), aad.size(), tag.data(), tag.size());
    }
    secure_zero(&context, sizeof(context));
}

bool CryptoEngine::cbc_encrypt(const CbcKeySchedule& key,
                               std::span<const std::uint8_t, kAesBlockBytes> iv,
                               std::span<const std::uint8_t> in, std::span<std::uint8_t> out) {
    return cbc_job(manager_, key, IMB_DIR_ENCRYPT, iv, in, out);
}

bool CryptoEngine::cbc_decrypt(const CbcKeySchedule& key,
                               std::span<const std::uint8_t, kAesBlockBytes> iv,
                               std::span<const std::uint8_t> in, std::span<std::uint8_t> out) {
    return cbc_job(manager_, key, IMB_DIR_DECRYPT, iv, in, out);
}

bool CryptoEngine::hmac_sha256(const HmacSha256Key& key, std::span<const std::uint8_t> data,
                               std::span<std::uint8_t> tag) {
    if (tag.size() != 16 && tag.size() != 32) return false;
    IMB_JOB* job = fresh_job(manager_);
    job->cipher_mode = IMB_CIPHER_NULL;
    job->cipher_direction = IMB_DIR_ENCRYPT;
    job->chain_order = IMB_ORDER_HASH_CIPHER;
    job->hash_alg = IMB_AUTH_HMAC_SHA_256;
    job->src = data.data();
    job->hash_start_src_offset_in_bytes = 0;
    job->msg_len_to_hash_in_bytes = data.size();
    job->auth_tag_output = tag.data();
    job->auth_tag_output_len_in_bytes = tag.size();
    job->u.HMAC._hashed_auth_key_xor_ipad = key.inner_state.data();
    job->u.HMAC._hashed_auth_key_xor_opad = key.outer_state.data();
    return run_job(manager_);
}

bool constant_time_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
    if (a.size() != b.size()) return false;
    volatile std::uint8_t difference = 0;
    for (std::size_t i = 0; i < a.size(); ++i) difference = difference | (a[i] ^ b[i]);
    return difference == 0;
}

}  // namespace monami::esp
