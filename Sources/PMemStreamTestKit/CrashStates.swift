#if canImport(Glibc)
    import Glibc
#endif

/// One state a power failure can leave: the persist point where power was cut, how undrained lines were
/// resolved, and the medium's bytes.
public struct CrashState: Sendable, CustomStringConvertible {
    /// The persist point (drain) at which power was cut; one past the last point means "after the workload".
    public let persistPoint: Int
    /// The total number of persist points of the workload.
    public let persistPointCount: Int
    /// How lines written but not drained were resolved.
    public let mode: CrashMode
    /// The medium's bytes after the failure.
    public let image: [UInt8]

    /// A medium restarted from this state.
    public func restart() -> SimulatedMedium {
        SimulatedMedium(image: self.image)
    }

    /// The point and the mode, for failure messages.
    public var description: String {
        "power cut at persist point \(self.persistPoint) of \(self.persistPointCount), \(self.mode)"
    }
}

extension CrashMode {
    /// The modes the crash tests try at every persist point: only drained data, everything written, and
    /// two seeds each of random lines and torn words.
    public static let standardModes: [CrashMode] = [
        .drainedOnly, .everythingWritten, .randomLines(seed: 1), .randomLines(seed: 2), .tornWords(seed: 3),
        .tornWords(seed: 4),
    ]
}

/// The most persist points of one workload that ``forEachCrashState(startingFrom:modes:maxPersistPoints:workload:check:)``
/// cuts power at by default: `PMEMSTREAM_CRASH_POINTS` when set (`0` for all of them), else all of them.
public let defaultMaxPersistPoints: Int = {
    guard let text = getenv("PMEMSTREAM_CRASH_POINTS"), let value = Int(String(cString: text)), value > 0 else {
        return .max
    }
    return value
}()

/// The persist points to cut power at, out of `count` and the state after the workload (`count + 1`): all of
/// them, or, when there are more than `limit`, `limit` of them spread evenly, always with the first and
/// the last — the same ones on every run.
public func sampledPersistPoints(count: Int, limit: Int) -> [Int] {
    let all = count + 1
    guard all > limit, limit >= 2 else { return Array(1...all) }
    return (0..<limit).map { 1 + $0 * (all - 1) / (limit - 1) }
}

/// Enumerates every state a power failure can leave while `workload` runs.
///
/// The workload first runs once on a medium restarted from `image`, to count its persist points `n`. Then,
/// for every point `k` in `1...n`, it runs again with power cut at `k`, and `check` receives the crash
/// image in each of `modes`; finally `check` receives the images of a failure after the workload
/// (`k == n + 1`). When there are more than `maxPersistPoints` points, an evenly spread, deterministic
/// sample of them is used instead. The workload must be deterministic: the same persist points in the same
/// order each run.
///
/// - Parameters:
///   - image: The medium's bytes before the workload.
///   - modes: How to resolve lines written but not drained.
///   - maxPersistPoints: The most points to cut power at (see ``defaultMaxPersistPoints``).
///   - workload: The operations to interrupt.
///   - check: The invariants every crash state must satisfy.
/// - Returns: The number of crash states checked.
@discardableResult
public func forEachCrashState(
    startingFrom image: [UInt8],
    modes: [CrashMode] = CrashMode.standardModes,
    maxPersistPoints: Int = defaultMaxPersistPoints,
    workload: (SimulatedMedium) async throws -> Void,
    check: (CrashState) async throws -> Void
) async throws -> Int {
    try await forEachCrashState(
        startingFrom: { SimulatedMedium(image: image) },
        modes: modes,
        maxPersistPoints: maxPersistPoints,
        workload: workload,
        check: check
    )
}

/// ``forEachCrashState(startingFrom:modes:maxPersistPoints:workload:check:)`` on media that `medium` makes,
/// each the same, each time it is called: for example ``SimulatedMedium/killed()`` of a medium whose writer
/// was killed, where what the program sees is more than what is durable. Persist points count from the
/// first one the workload reaches.
@discardableResult
public func forEachCrashState(
    startingFrom medium: () -> SimulatedMedium,
    modes: [CrashMode] = CrashMode.standardModes,
    maxPersistPoints: Int = defaultMaxPersistPoints,
    workload: (SimulatedMedium) async throws -> Void,
    check: (CrashState) async throws -> Void
) async throws -> Int {
    let counting = medium()
    let start = counting.persistPointCount
    try await workload(counting)
    let count = counting.persistPointCount - start
    var checked = 0
    for point in sampledPersistPoints(count: count, limit: maxPersistPoints) {
        let medium = medium()
        if point <= count {
            medium.cutPower(atPersistPoint: start + point)
        }
        try await workload(medium)
        for mode in modes {
            try await check(
                CrashState(persistPoint: point, persistPointCount: count, mode: mode, image: medium.crash(mode))
            )
            checked += 1
        }
    }
    return checked
}
