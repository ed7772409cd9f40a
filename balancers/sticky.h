/* SPDX-License-Identifier: MIT */
/* Session persistence building blocks: sealed cookie tokens and lock-free affinity tables. */
#ifndef RW_BALANCERS_STICKY_H
#define RW_BALANCERS_STICKY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Token layout (v1): version byte | 96-bit random nonce | ChaCha20-Poly1305 ciphertext of
 * { server_uid u64, issued_s u32, last_s u32 } (little endian) | 128-bit tag, i.e.
 * 1 + 12 + 16 + 16 = 45 bytes, base64url without padding = 60 characters. The AAD is the
 * version byte followed by the caller's context string (e.g. the upstream name). */
#define RW_STICKY_TOKEN_LEN 60
/* Bytes a seal output buffer needs: the token plus its NUL. */
#define RW_STICKY_TOKEN_CAP (RW_STICKY_TOKEN_LEN + 1)
/* Key files hold at least this many secret bytes (after trailing CR/LF are dropped). */
#define RW_STICKY_SECRET_MIN 32
/* ... and at most this many (a larger file is -EINVAL). */
#define RW_STICKY_SECRET_MAX 4096
/* Tolerated clock skew for tokens from other instances, in seconds. */
#define RW_STICKY_SKEW_S 60
/* Slots scanned per key in a session table (the probe window). */
#define RW_STICKY_TABLE_WINDOW 8

struct rw_sticky_key;   /* opaque: the AEAD key; immutable once created */
struct rw_sticky_table; /* opaque: bounded key -> server uid map, shared by all workers */

/* ---- token key ---------------------------------------------------------------------- */

/* Create a token key. With key_file (a path, not NULL/""), its bytes are the secret:
 * trailing CR/LF are dropped, then at least RW_STICKY_SECRET_MIN and at most
 * RW_STICKY_SECRET_MAX bytes must remain; the AEAD key is HKDF-SHA256(secret, fixed info
 * string), so every ringwall instance reading the same secret accepts the others' tokens.
 * Without key_file, the key is 32 random bytes (valid for this process only; share the
 * one object between workers and across reloads so tokens survive them).
 * Returns 0 and *out (owned by the caller, free with rw_sticky_key_free), or -errno:
 * -ENOENT/-EACCES/-EISDIR/... (opening or reading the file), -EINVAL (secret too short or
 * too long, out NULL), -ENOMEM, -EIO (wolfCrypt RNG or KDF failure). Start-up / config
 * thread (reads a file: blocks). */
int rw_sticky_key_new(const char *key_file, struct rw_sticky_key **out);

/* Wipe and free a key. NULL is a no-op. Only after every thread is done with it (e.g.
 * after an RCU grace period when a reload replaced it). */
void rw_sticky_key_free(struct rw_sticky_key *k);

/* ---- cookie tokens ------------------------------------------------------------------ */

/* Seal {server_uid, issued_s, last_s} into a cookie-safe token (base64url, no padding,
 * exactly RW_STICKY_TOKEN_LEN characters) bound to ctx (any NUL-terminated string, e.g.
 * the upstream name; NULL means ""). Writes the token and a NUL into out[cap].
 * Times are wall-clock seconds (UNIX time truncated to 32 bits), because tokens travel
 * between instances. Returns RW_STICKY_TOKEN_LEN, or -EINVAL (k or out NULL), -ENOSPC
 * (cap < RW_STICKY_TOKEN_CAP), -EIO (RNG or cipher failure; out is then "").
 * Any thread, concurrently with other seals/opens on the same key: all cipher state is
 * on the caller's stack and nonces come from a per-thread wolfCrypt DRBG (created on the
 * thread's first seal, reseeded in a forked child, freed at thread exit). */
int rw_sticky_seal(const struct rw_sticky_key *k, const char *ctx, uint64_t server_uid,
                   uint32_t issued_s, uint32_t last_s, char *out, size_t cap);

/* Authenticate and decrypt tok[len] (not necessarily NUL-terminated) sealed for ctx (NULL
 * means ""). Returns 0 and fills *server_uid, *issued_s, *last_s (each pointer may be
 * NULL), or -EBADMSG for anything else: wrong length, a character outside base64url,
 * another version, a tampered byte, another key or another ctx; the outputs are then
 * untouched. Expiry is the caller's decision (see rw_sticky_fresh). Any thread,
 * concurrently; never allocates or blocks. */
int rw_sticky_open(const struct rw_sticky_key *k, const char *ctx, const char *tok, size_t len,
                   uint64_t *server_uid, uint32_t *issued_s, uint32_t *last_s);

/* True when a session issued at issued_s and last used at last_s is still valid at now_s:
 * age (now - issued) < ttl_s and idle time (now - last) < idle_s, where a limit of 0
 * means none. Times up to RW_STICKY_SKEW_S in the future count as now; an issued_s or
 * last_s further in the future is not fresh. Pure function, any thread. */
bool rw_sticky_fresh(uint32_t now_s, uint32_t issued_s, uint32_t last_s, uint32_t ttl_s,
                     uint32_t idle_s);

/* ---- session tables ("learn" and "ip" modes) -------------------------------------------
 * Open addressing over a power of two of slots (capacity rounded up, at least
 * RW_STICKY_TABLE_WINDOW), RW_STICKY_TABLE_WINDOW slots probed per key; a full window
 * evicts its stalest entry, so memory is fixed at creation whatever the key flood. Each
 * slot is guarded by a per-slot sequence counter: readers never wait (a slot caught
 * mid-write is re-read a few times, then counts as a miss), writers take a slot only by one
 * compare-and-swap and give up when another writer holds it. A concurrent put may therefore be lost
 * (it is an affinity cache), but a get never returns a uid that was not stored for that key. Keys
 * are 64-bit hashes chosen by the caller (seeded, e.g. rw_lb_hash of the client address or of the
 * session cookie); 0 is accepted and mapped to another value internally. Times are any seconds
 * clock shared by the callers (the worker time cache). */

/* Create a table for about `capacity` entries (1 .. 2^26; 32 bytes per slot). NULL and *err =
 * -EINVAL (bad capacity) or -ENOMEM. err may be NULL. Start-up / config thread. */
struct rw_sticky_table *rw_sticky_table_new(uint32_t capacity, int *err);

/* Free a table once no thread uses it. NULL is a no-op. */
void rw_sticky_table_free(struct rw_sticky_table *t);

/* Look key up. When found and idle for less than idle_s (0 = no idle limit), set
 * *server_uid, refresh its last use to now_s and return true; otherwise return false
 * (an expired entry is also removed). Any thread, concurrently; never blocks. */
bool rw_sticky_table_get(struct rw_sticky_table *t, uint64_t key, uint32_t now_s, uint32_t idle_s,
                         uint64_t *server_uid);

/* Remember key -> server_uid, last used now_s: replaces key's entry, or takes a free slot
 * of its window, or evicts the window's stalest entry. May be lost under a concurrent
 * write to the same slots. Any thread, concurrently; never blocks. */
void rw_sticky_table_put(struct rw_sticky_table *t, uint64_t key, uint64_t server_uid,
                         uint32_t now_s);

/* Forget key (e.g. its server went away). Any thread, concurrently; never blocks. */
void rw_sticky_table_del(struct rw_sticky_table *t, uint64_t key);

/* Occupied slots (a racy count, O(slots)): for stats and tests. Any thread. */
uint32_t rw_sticky_table_count(const struct rw_sticky_table *t);

/* Number of slots (fixed at creation) and bytes allocated for the table (fixed). */
uint32_t rw_sticky_table_slots(const struct rw_sticky_table *t);
size_t rw_sticky_table_mem(const struct rw_sticky_table *t);

#endif
