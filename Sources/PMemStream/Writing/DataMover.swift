/// Copies an entry's bytes into the medium for an asynchronous append (the C library's `vdm` argument).
///
/// A mover only copies: it does not flush, the group commit does. ``SynchronousDataMover`` copies at once
/// on the appending task; ``ThreadedDataMover`` spreads large entries over several threads. Write your own
/// to use a DMA engine.
///
/// The writer checks, when `copy` returns, that the medium holds the entry's bytes, and copies them itself
/// where it does not (a mover that gave up, failed or was cancelled halfway): an entry is never sealed over
/// other bytes than those appended.
public protocol DataMover: Sendable {
    /// Copies `bytes` to `offset` in `medium`, without flushing, and returns when they are in place; it must
    /// write nothing there once it has returned.
    ///
    /// - Parameters:
    ///   - bytes: The entry's data.
    ///   - offset: Where the data goes in the medium.
    ///   - medium: The medium.
    func copy(_ bytes: [UInt8], toOffset offset: Int, of medium: any PersistentMedium) async
}

/// Copies on the appending task, with the medium's own copy function. The default.
public struct SynchronousDataMover: DataMover {
    /// Creates the mover.
    public init() {}

    /// Copies at once.
    public func copy(_ bytes: [UInt8], toOffset offset: Int, of medium: any PersistentMedium) async {
        bytes.withUnsafeBytes { medium.copy(toOffset: offset, from: $0, flags: .noFlush) }
    }
}

/// Copies entries of at least ``threshold`` bytes in ``parts`` pieces on concurrent threads; smaller
/// entries at once on the appending task.
public struct ThreadedDataMover: DataMover {
    /// The smallest entry worth splitting.
    public let threshold: Int
    /// How many pieces a large entry is copied in, at once; no piece is smaller than ``smallestPiece``.
    public let parts: Int

    /// The smallest piece worth a task of its own.
    public static let smallestPiece = 4096

    /// Creates the mover. A stream refuses it with ``PMemStreamError/Code/invalidArgument`` when `threshold`
    /// or `parts` is below 1.
    ///
    /// - Parameters:
    ///   - threshold: The smallest entry worth splitting (default 256 KiB).
    ///   - parts: How many pieces to copy at once (default 4).
    public init(threshold: Int = 256 * 1024, parts: Int = 4) {
        self.threshold = threshold
        self.parts = parts
    }

    /// Copies, in parallel when the entry is large.
    public func copy(_ bytes: [UInt8], toOffset offset: Int, of medium: any PersistentMedium) async {
        guard bytes.count >= max(self.threshold, 1), self.parts > 1 else {
            await SynchronousDataMover().copy(bytes, toOffset: offset, of: medium)
            return
        }
        // `count / parts` rounded up, written so that no part count overflows it.
        let piece = max(
            bytes.count / self.parts + (bytes.count % self.parts == 0 ? 0 : 1),
            Self.smallestPiece
        )
        await withTaskGroup { group in
            for start in stride(from: 0, to: bytes.count, by: piece) {
                group.addTask { @concurrent in
                    let end = min(start + piece, bytes.count)
                    bytes.withUnsafeBytes { all in
                        medium.copy(
                            toOffset: offset + start,
                            from: UnsafeRawBufferPointer(rebasing: all[start..<end]),
                            flags: .noFlush
                        )
                    }
                }
            }
        }
    }
}
