/// Opens the stream in a file or DAX device, runs `body` with it, and closes the stream when `body` ends,
/// however it ends.
///
/// The stream is closed when `body` returns, when it throws and when its task is cancelled: everything
/// committed is persisted, and the file's writer's lock released, before this returns. Closing does not
/// react to cancellation. When both `body` and the close fail, `body`'s error is the one thrown.
///
/// ```swift
/// try await withPMemStream(path: "/mnt/pmem0/log", size: 64 << 20) { stream in
///     let writer = try await stream.writer(for: try await stream.allocateRegion(size: 1 << 20))
///     _ = try await writer.appendAsync(Array("hello".utf8))
/// }  // closed: the entry is persisted
/// ```
///
/// - Parameters:
///   - path: The file or the DAX device.
///   - size: The size of a new file, as for ``PMemStream/open(path:size:configuration:)``.
///   - configuration: The stream's settings.
///   - isolation: Where `body` runs: the caller's isolation.
///   - body: Works with the open stream; it must not keep the stream beyond its end.
/// - Returns: What `body` returns.
/// - Throws: The errors of ``PMemStream/open(path:size:configuration:)``, `body`'s error, or the errors of
///   ``PMemStream/close()``.
public func withPMemStream<Value>(
    path: String,
    size: Int? = nil,
    configuration: PMemStream.Configuration = PMemStream.Configuration(),
    isolation: isolated (any Actor)? = #isolation,
    _ body: (PMemStream) async throws -> Value
) async throws -> Value {
    let stream = try await PMemStream.open(path: path, size: size, configuration: configuration)
    return try await runThenClose(stream, body)
}

/// ``withPMemStream(path:size:configuration:isolation:_:)`` for a stream on any ``PersistentMedium``.
///
/// - Parameters:
///   - medium: The medium the stream lives on.
///   - configuration: The stream's settings.
///   - isolation: Where `body` runs: the caller's isolation.
///   - body: Works with the open stream; it must not keep the stream beyond its end.
/// - Returns: What `body` returns.
/// - Throws: The errors of ``PMemStream/init(medium:configuration:)``, `body`'s error, or the errors of
///   ``PMemStream/close()``.
public func withPMemStream<Value>(
    medium: any PersistentMedium,
    configuration: PMemStream.Configuration = PMemStream.Configuration(),
    isolation: isolated (any Actor)? = #isolation,
    _ body: (PMemStream) async throws -> Value
) async throws -> Value {
    let stream = try PMemStream(medium: medium, configuration: configuration)
    return try await runThenClose(stream, body)
}

/// Runs `body` with `stream`, then closes the stream whatever `body` did; `body`'s error comes first.
private func runThenClose<Value>(
    _ stream: PMemStream,
    isolation: isolated (any Actor)? = #isolation,
    _ body: (PMemStream) async throws -> Value
) async throws -> Value {
    let outcome: Result<Value, any Error>
    do {
        outcome = .success(try await body(stream))
    } catch {
        outcome = .failure(error)
    }
    do {
        try await stream.close()
    } catch {
        // Once `body` failed, its error is the one to report.
        guard case .failure = outcome else { throw error }
    }
    return try outcome.get()
}
