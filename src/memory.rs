//! Process-wide allocator settings.

/// Each Argon2 password hash needs a 19 MiB block. After freeing the first such block, glibc's
/// malloc raises its mmap threshold, so later ones come from per-thread heaps that are kept,
/// not given back: a few dozen sign-ins left the server hundreds of MiB bigger for good. A
/// fixed threshold keeps every allocation of 1 MiB or more in a mapping of its own, returned
/// to the system when it is freed. Smaller allocations are unaffected.
pub fn return_large_blocks() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const M_MMAP_THRESHOLD: i32 = -3;
        extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        // SAFETY: mallopt only sets an allocator tunable; a value it refuses changes nothing.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
        }
    }
}
