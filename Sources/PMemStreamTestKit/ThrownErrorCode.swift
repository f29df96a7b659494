public import PMemStream

/// The code of the ``PMemStreamError`` an operation throws: `nil` when it returns normally or throws
/// another kind of error. It lets a test state the expected failure in one line.
///
/// ```swift
/// #expect(await thrownErrorCode { try await stream.allocateRegion(size: 0) } == .invalidRegionSize)
/// ```
/// - Parameter operation: The operation that should fail.
/// - Returns: The error's code, if it threw a ``PMemStreamError``.
public func thrownErrorCode<R>(_ operation: () async throws -> R) async -> PMemStreamError.Code? {
    do {
        _ = try await operation()
        return nil
    } catch let error as PMemStreamError {
        return error.code
    } catch {
        return nil
    }
}
