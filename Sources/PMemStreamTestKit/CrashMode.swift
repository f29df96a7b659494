/// What a simulated power failure does to the lines that were written but not yet drained.
///
/// Lines that were drained always survive, and aligned 8-byte words are never split. The random modes are
/// deterministic for a given seed, so a failing crash state can be replayed.
public struct CrashMode: Sendable, Hashable, CustomStringConvertible {
    enum Kind: Sendable, Hashable {
        case drainedOnly
        case everythingWritten
        case randomLines
        case tornWords
    }

    let kind: Kind
    let seed: UInt64

    /// Every undrained line keeps its old content: exactly what was drained survives.
    public static let drainedOnly = CrashMode(kind: .drainedOnly, seed: 0)
    /// Every undrained line reached the medium anyway (the caches were written back just in time).
    public static let everythingWritten = CrashMode(kind: .everythingWritten, seed: 0)

    /// Each undrained line, chosen at random, holds either its old or its new content.
    ///
    /// - Parameter seed: The seed of the choices.
    /// - Returns: The mode.
    public static func randomLines(seed: UInt64) -> CrashMode {
        CrashMode(kind: .randomLines, seed: seed)
    }

    /// Each aligned 8-byte word of an undrained line, chosen at random, holds its old or its new content:
    /// lines are torn.
    ///
    /// - Parameter seed: The seed of the choices.
    /// - Returns: The mode.
    public static func tornWords(seed: UInt64) -> CrashMode {
        CrashMode(kind: .tornWords, seed: seed)
    }

    /// The mode's name and seed.
    public var description: String {
        switch self.kind {
        case .drainedOnly: "drained only"
        case .everythingWritten: "everything written"
        case .randomLines: "random lines (seed \(self.seed))"
        case .tornWords: "torn words (seed \(self.seed))"
        }
    }
}
