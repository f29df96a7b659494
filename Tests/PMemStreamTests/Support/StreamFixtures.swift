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
    let (medium, stream, mover, r1, r2) = try await streamWithHeldMover()
    let writer = try await stream.writer(for: r1)
    for index in 1...3 {
        _ = try await writer.append([UInt8(index)])
    }
    let held = Task { try await stream.writer(for: r2).appendAsync([99]) }
    await mover.waitUntilHolding()
    let available = await writer.availableSize
    let stale = Task { try await writer.append(contentsOf: tail) }
    while await writer.availableSize == available {
        await Task.yield()  // until the batch is written and drained; it then waits for timestamp 4
    }
    let image = medium.crash(.drainedOnly)
    mover.release()
    _ = try await held.value
    _ = try await stale.value
    return (SimulatedMedium(image: image), r1, r2)
}

/// A stream on a new 64 KiB simulated medium, with no persist worker and a data mover that holds every
/// copy until released, and two regions of 4032 bytes.
func streamWithHeldMover() async throws -> (SimulatedMedium, PMemStream, HeldDataMover, Region, Region) {
    let medium = SimulatedMedium(size: 64 * 1024)
    let mover = HeldDataMover()
    let stream = try PMemStream(
        medium: medium,
        configuration: .init(blockSize: 4096, persistWorkers: 0, dataMover: mover)
    )
    return (
        medium, stream, mover, try await stream.allocateRegion(size: 4032), try await stream.allocateRegion(size: 4032)
    )
}
