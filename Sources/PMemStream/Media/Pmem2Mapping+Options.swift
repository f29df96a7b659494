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
        /// ``StoreGranularity/byte`` insists on a platform with eADR.
        public var requiredGranularity: StoreGranularity
        /// Map for reading only: the file is opened read-only, mapped without write permission, and not
        /// locked, so it can be read while another process writes it. A read-only mapping never creates a file.
        ///
        /// A writable mapping holds an exclusive lock (`flock`) on the file for as long as it exists, so that
        /// no second writable mapping of it can be made, in this process or another one.
        public var readOnly: Bool

        /// Creates mapping options.
        ///
        /// - Parameters:
        ///   - prefault: Touch every page while mapping.
        ///   - requiredGranularity: The coarsest store granularity the mapping may have.
        ///   - readOnly: Map for reading only, without taking the writer's lock.
        public init(prefault: Bool = false, requiredGranularity: StoreGranularity = .page, readOnly: Bool = false) {
            self.prefault = prefault
            self.requiredGranularity = requiredGranularity
            self.readOnly = readOnly
        }
    }
}
