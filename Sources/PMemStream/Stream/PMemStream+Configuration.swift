extension PMemStream {
    /// How a stream is laid out and run. The defaults suit most uses.
    public struct Configuration: Sendable, Hashable {
        /// The block size in bytes: a power of two and a multiple of 64. Regions start and end on block
        /// boundaries, so it is the granularity of region sizes. An existing stream must be opened with the
        /// block size it was created with.
        public var blockSize: Int

        /// Creates a configuration.
        ///
        /// - Parameter blockSize: The block size in bytes (default 4096).
        public init(blockSize: Int = 4096) {
            self.blockSize = blockSize
        }
    }
}
