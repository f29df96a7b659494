import Glibc

/// Reads `CLOCK_MONOTONIC` in nanoseconds: the clock every timed section of the benchmark uses.
enum MonotonicClock {
    /// Nanoseconds since an arbitrary, fixed point.
    @inline(__always)
    static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }
}
