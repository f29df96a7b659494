/// Copies an entry's bytes into the medium for an asynchronous append (the C library's `vdm` argument).
///
/// A mover only copies: it does not flush, the group commit does. ``SynchronousDataMover`` copies at once
/// on the appending task; ``ThreadedDataMover`` spreads large entries over several threads. Write your own
/// to use a DMA engine.
public protocol DataMover: Sendable {
    /// Copies `bytes` to `offset` in `medium`, without flushing, and returns when they are in place.
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
    /// How many pieces a large entry is copied in, at once.
    public let parts: Int

    /// Creates the mover.
    ///
    /// - Parameters:
    ///   - threshold: The smallest entry worth splitting (default 256 KiB).
    ///   - parts: How many pieces to copy at once (default 4).
    public init(threshold: Int = 256 * 1024, parts: Int = 4) {
        self.threshold = max(threshold, 1)
        self.parts = max(parts, 1)
    }

    /// Copies, in parallel when the entry is large.
    public func copy(_ bytes: [UInt8], toOffset offset: Int, of medium: any PersistentMedium) async {
        guard bytes.count >= self.threshold, self.parts > 1 else {
            await SynchronousDataMover().copy(bytes, toOffset: offset, of: medium)
            return
        }
        let piece = (bytes.count + self.parts - 1) / self.parts
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
