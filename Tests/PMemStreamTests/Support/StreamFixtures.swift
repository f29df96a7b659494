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

extension AsyncSequence {
    /// Every element, in order.
    func collect() async throws -> [Element] {
        var elements: [Element] = []
        for try await element in self {
            elements.append(element)
        }
        return elements
    }
}

/// Deterministic test bytes: `count` bytes derived from `seed`.
func testBytes(_ count: Int, seed: Int) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ seed &* 7 &+ 1) }
}
