extension Pmem2Mapping {
    /// How a file is mapped.
    public struct Options: Sendable, Hashable {
        /// Touch every page while mapping so the first appends do not pay page faults.
        ///
        /// Setting the environment variable `PMEMSTREAM_PREFAULT_AT_OPEN` (to any value) turns it on for
        /// every mapping, as it did for the C library.
        public var prefault: Bool
        /// The coarsest store granularity the mapping may have. The default, ``StoreGranularity/page``,
        /// accepts every file system; ask for ``StoreGranularity/cacheLine`` to insist on persistent memory.
        public var requiredGranularity: StoreGranularity

        /// Creates mapping options.
        ///
        /// - Parameters:
        ///   - prefault: Touch every page while mapping.
        ///   - requiredGranularity: The coarsest store granularity the mapping may have.
        public init(prefault: Bool = false, requiredGranularity: StoreGranularity = .page) {
            self.prefault = prefault
            self.requiredGranularity = requiredGranularity
        }
    }
}
