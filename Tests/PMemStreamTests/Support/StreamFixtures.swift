import PMemStream
import PMemStreamTestKit

/// A stream on a new simulated medium.
func makeStream(size: Int = 1 << 20, blockSize: Int = 4096) throws -> (PMemStream, SimulatedMedium) {
    let medium = SimulatedMedium(size: size)
    return (try PMemStream(medium: medium, configuration: .init(blockSize: blockSize)), medium)
}

/// The stream a restart finds on what `medium` holds durably.
func restart(_ medium: SimulatedMedium, blockSize: Int = 4096, mode: CrashMode = .drainedOnly) throws -> (
    PMemStream, SimulatedMedium
) {
    let restarted = SimulatedMedium(image: medium.crash(mode))
    return (try PMemStream(medium: restarted, configuration: .init(blockSize: blockSize)), restarted)
}

/// Deterministic test bytes: `count` bytes derived from `seed`.
func testBytes(_ count: Int, seed: Int) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ seed &* 7 &+ 1) }
}

/// A first session: regions r1 and r2; r1 holds the persisted entries [1], [2], [3]. Then an
/// asynchronous append to r2 takes timestamp 4 and is held in its data mover, never written, and `tail` is
/// appended to r1 as one batch: durable, whole, but beyond the gap at 4, so never persisted. Power fails
/// there.
/// - Returns: The medium after the restart, and the regions.
func sessionWithStaleTail(_ tail: [[UInt8]]) async throws -> (SimulatedMedium, Region, Region) {
    try await sessionWithStaleTail { _ in tail }
}

/// ``sessionWithStaleTail(_:)`` on a medium of `mediumSize` bytes whose r1 has `firstRegionSize` bytes;
/// `tail` makes the stale tail from the offset where it starts (r1's tail after [3]).
func sessionWithStaleTail(
    mediumSize: Int = 64 * 1024,
    firstRegionSize: Int = 4032,
    _ tail: (_ start: Int) -> [[UInt8]]
) async throws -> (SimulatedMedium, Region, Region) {
    let (medium, stream, mover, r1, r2) = try await streamWithHeldMover(
        mediumSize: mediumSize,
        firstRegionSize: firstRegionSize
    )
    let writer = try await stream.writer(for: r1)
    var start = 0
    for index in 1...3 {
        start = try await writer.append([UInt8(index)]).offset + 32  // a one-byte entry takes 32 bytes
    }
    let held = Task { try await stream.writer(for: r2).appendAsync([99]) }
    await mover.waitUntilHolding()
    let available = await writer.availableSize
    let staleTail = tail(start)
    let stale = Task { try await writer.append(contentsOf: staleTail) }
    while await writer.availableSize == available {
        await Task.yield()  // until the batch is written and drained; it then waits for timestamp 4
    }
    let image = medium.crash(.drainedOnly)
    mover.release()
    _ = try await held.value
    _ = try await stale.value
    return (SimulatedMedium(image: image), r1, r2)
}

/// A stream on a new simulated medium of `mediumSize` bytes, with no persist worker and a data mover that
/// holds every copy until released, and two regions: r1 of `firstRegionSize` bytes and r2 of 4032.
func streamWithHeldMover(
    mediumSize: Int = 64 * 1024,
    firstRegionSize: Int = 4032
) async throws -> (SimulatedMedium, PMemStream, HeldDataMover, Region, Region) {
    let medium = SimulatedMedium(size: mediumSize)
    let mover = HeldDataMover()
    let stream = try PMemStream(
        medium: medium,
        configuration: .init(blockSize: 4096, persistWorkers: 0, dataMover: mover)
    )
    return (
        medium, stream, mover, try await stream.allocateRegion(size: firstRegionSize),
        try await stream.allocateRegion(size: 4032)
    )
}
