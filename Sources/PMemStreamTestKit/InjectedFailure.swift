public import PMemStream

#if os(Linux)
    import Glibc
#endif

/// A failure a ``SimulatedMedium`` reports on demand, as a medium whose device is full or broken would.
public struct InjectedFailure: Sendable, Hashable {
    /// The error the medium throws.
    public let error: PMemStreamError

    /// The medium has no room left: ``PMemStreamError/Code/outOfSpace`` with `ENOSPC`.
    public static let outOfSpace = InjectedFailure(
        error: PMemStreamError(code: .outOfSpace, message: "simulated medium is out of space", errno: ENOSPC)
    )
    /// The medium could not store the data: ``PMemStreamError/Code/ioError`` with `EIO`.
    public static let ioError = InjectedFailure(
        error: PMemStreamError(code: .ioError, message: "simulated medium reported an I/O error", errno: EIO)
    )
}
