extension PMemStream {
    /// Whether a stream is opened for writing or only for reading.
    ///
    /// One process at a time may have a stream open for writing; any number may read it meanwhile. A
    /// read-only stream writes nothing, not even recovery's results: it sees the entries of another process
    /// once they are whole in the medium, and every earlier timestamp's too (see ``PMemStream/refresh()``).
    public struct Access: Sendable, Hashable, CustomStringConvertible {
        private let isReadOnly: Bool

        /// Open for reading and writing; the default. Opening recovers the stream after a crash.
        public static let readWrite = Access(isReadOnly: false)
        /// Open for reading only: nothing is formatted, recovered or written, and a ``Pmem2Mapping`` is made
        /// without write permission and without the writer's lock.
        public static let readOnly = Access(isReadOnly: true)

        /// `read-write` or `read-only`.
        public var description: String {
            self.isReadOnly ? "read-only" : "read-write"
        }
    }
}
