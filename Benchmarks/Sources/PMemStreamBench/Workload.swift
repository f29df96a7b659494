/// The parameters of one measurement cell: what each thread does, and where.
struct Workload: Sendable {
    /// The bytes of data per operation (entry).
    let entrySize: Int
    /// The operations each thread performs.
    let count: Int
    /// The threads and how they share regions.
    let configuration: ThreadConfiguration
    /// The entries per batch: per `append(contentsOf:)`, per drain of the batched ceiling, per wait of the
    /// async engine.
    let batchSize: Int
    /// Whether the PMemStream engines close their new stream and open it again before timing, so that they
    /// append to regions recovered from an earlier session, as an application does after a restart.
    let recoveredRegions: Bool
    /// The file every engine creates afresh, and deletes, for each iteration.
    let path: String
    /// The entries' data.
    let payload: Payload

    /// The number of threads.
    var threads: Int {
        self.configuration.threads
    }

    /// The size of an entry in a PMemStream region: its 24-byte header and its data, rounded up to 8 bytes
    /// (see `Docs/Format.md`, "Entries").
    var entryFootprint: Int {
        Self.footprint(entrySize: self.entrySize)
    }

    /// The size in a region of an entry of `entrySize` bytes.
    static func footprint(entrySize: Int) -> Int {
        (Self.entryHeaderSize + entrySize + 7) & ~7
    }

    /// The entry's size rounded up to 8: the stride of the ceiling engines' consecutive copies.
    var alignedEntrySize: Int {
        (self.entrySize + 7) & ~7
    }

    /// The header in front of every PMemStream entry.
    static let entryHeaderSize = 24
}
