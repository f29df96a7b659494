#if os(Linux)
    @preconcurrency import Glibc
    import CPMem2
    import CPMemStreamStores

    /// A file or a DAX device, mapped and persisted with libpmem2's functions: the real persistent medium.
    ///
    /// A new file is created with the requested size and its blocks are reserved up front, so a store into the
    /// mapping never meets a full file system. An existing file or device is mapped whole and keeps its size.
    /// The file is mapped with `mmap` rather than `pmem2_map_new`, which can replace another thread's memory
    /// with the file (see `Docs/Media.md`); on persistent memory the persist, flush, drain, copy and fill
    /// functions are then fetched from libpmem2 once and called directly. The mapping is removed when the last
    /// reference to it goes away.
    ///
    /// On a file system without persistent memory the mapping has ``StoreGranularity/page`` granularity and
    /// every persist is an `msync`; on `/dev/shm` with `PMEM2_FORCE_GRANULARITY=CACHE_LINE` it behaves like
    /// persistent memory with cache-line flushes.
    ///
    /// ```swift
    /// let medium = try Pmem2Mapping(path: "/mnt/pmem0/log", size: 64 << 20)
    /// print(medium.granularity)          // "cache line" on real persistent memory
    /// ```
    ///
    /// - Important: All requirements of ``PersistentMedium`` are safe to call from any thread for disjoint
    ///   ranges: the stored properties never change after `init` (but for the writer's claim, behind a lock), and
    ///   libpmem2's functions are thread-safe.
    /// - Note: With libpmem2 1.12.1, each mapping with ``StoreGranularity/cacheLine`` or finer granularity leaves
    ///   about 220 bytes allocated after it goes away, a leak in libpmem2 (`Docs/Media.md`): keep a stream
    ///   open rather than open one on persistent memory over and over.
    public final class Pmem2Mapping: PersistentMedium, @unchecked Sendable {
        /// The path that was mapped.
        public let path: String
        /// The address of byte 0 of the mapping.
        public let baseAddress: UnsafeMutableRawPointer
        /// The size of the mapping: the size of the file or device.
        public let size: Int
        /// The store granularity of this mapping, chosen as libpmem2 chooses it (see ``StoreGranularity``).
        public let granularity: StoreGranularity
        /// The NUMA node of the device, when libpmem2 reports one (DAX devices); `nil` for ordinary files.
        public let numaNode: Int?

        private let resources: MappedFile
        private let isReadOnly: Bool
        /// Whether this mapping created the file.
        private let createdFile: Bool
        /// Whether a stream writes through this mapping, and whether it holds the file's writer's lock.
        private let writer: Lock<(isClaimed: Bool, holdsLock: Bool)>
        private let persistFunction: @convention(c) (UnsafeRawPointer?, Int) -> Void
        private let flushFunction: @convention(c) (UnsafeRawPointer?, Int) -> Void
        private let drainFunction: @convention(c) () -> Void
        private let memcpyFunction:
            @convention(c) (UnsafeMutableRawPointer?, UnsafeRawPointer?, Int, UInt32) -> UnsafeMutableRawPointer?
        private let memsetFunction:
            @convention(c) (UnsafeMutableRawPointer?, Int32, Int, UInt32) -> UnsafeMutableRawPointer?
        /// Whether ``copy(toOffset:from:flags:)`` copies whole words with non-temporal stores alone, when asked
        /// for ``MemoryCopyFlags/nonTemporal`` stores: on x86-64, with cache-line or byte granularity.
        private let copiesWordsNonTemporally: Bool
        /// Whether a writer may copy whole words into this mapping with non-temporal stores while it checksums
        /// them, in one pass (`CRC32C.foldingChecksum(copying:nonTemporallyTo:continuing:)`), instead of
        /// calling ``copy(toOffset:from:flags:)``: this mapping copies whole words with non-temporal stores
        /// alone, and the CPU folds checksums with 256-bit registers (`CRC32C.foldingAvailable`).
        let copiesWhileChecksumming: Bool

        /// Maps a file, creating it when it does not exist, or maps a DAX device.
        ///
        /// - Parameters:
        ///   - path: The file or the DAX device (`/dev/daxX.Y`).
        ///   - size: The size of a new (absent or empty) file. For an existing file or a device, `nil` or the
        ///     size it already has.
        ///   - options: Prefaulting, the required granularity, and whether to map for reading only.
        /// - Throws: ``PMemStreamError`` with ``PMemStreamError/Code/fileNotFound`` when the file is absent and
        ///   `size` is `nil` or the mapping is read-only, ``PMemStreamError/Code/streamInUse`` when a writable
        ///   mapping of the file exists already, ``PMemStreamError/Code/invalidMediumSize`` when `size` does not suit the file,
        ///   ``PMemStreamError/Code/outOfSpace`` when the file system cannot hold a new file,
        ///   ``PMemStreamError/Code/permissionDenied`` when the file's access does not allow the mapping,
        ///   ``PMemStreamError/Code/mappingFailed`` when `mmap` fails (with its `errno`), when the mapping is
        ///   coarser than ``Options/requiredGranularity``, or when libpmem2 refuses to describe it (with
        ///   `pmem2_errormsg()`).
        ///   A file this call created is removed again when it fails.
        public init(path: String, size: Int? = nil, options: Options = Options()) throws(PMemStreamError) {
            if let size, size <= 0 {
                throw PMemStreamError(code: .invalidMediumSize, message: "a medium needs a positive size, not \(size)")
            }
            let (fd, created) = try Self.openOrCreate(path, creating: size != nil, readOnly: options.readOnly)
            let resources = try Self.map(fd: fd, path: path, size: size, options: options, created: created)
            let mapping = resources.mapping!
            self.numaNode = SystemCalls.numaNode(of: resources.source!)
            self.baseAddress = mapping.address
            self.size = mapping.size
            self.granularity = resources.granularity
            if let map = resources.map {
                // libpmem2 documents that these never return NULL for a valid map.
                self.persistFunction = pmem2_get_persist_fn(map)!
                self.flushFunction = pmem2_get_flush_fn(map)!
                self.drainFunction = pmem2_get_drain_fn(map)!
                self.memcpyFunction = pmem2_get_memcpy_fn(map)!
                self.memsetFunction = pmem2_get_memset_fn(map)!
            } else {
                self.persistFunction = PageSync.persist
                self.flushFunction = PageSync.persist
                self.drainFunction = PageSync.drain
                self.memcpyFunction = PageSync.copy
                self.memsetFunction = PageSync.fill
            }
            self.copiesWordsNonTemporally = resources.map != nil && pmemstream_nontemporal_stores_available()
            self.copiesWhileChecksumming = self.copiesWordsNonTemporally && CRC32C.foldingAvailable
            self.path = path
            self.resources = resources
            self.isReadOnly = options.readOnly
            self.createdFile = created
            self.writer = Lock((isClaimed: false, holdsLock: !options.readOnly))
            if options.prefault || getenv("PMEMSTREAM_PREFAULT_AT_OPEN") != nil {
                self.prefault()
            }
        }

        // MARK: - PersistentMedium

        public func persist(_ range: Range<Int>) {
            assert(range.upperBound <= self.size, "persist beyond the end of the medium")
            self.persistFunction(self.baseAddress + range.lowerBound, range.count)
        }

        public func flush(_ range: Range<Int>) {
            assert(range.upperBound <= self.size, "flush beyond the end of the medium")
            self.flushFunction(self.baseAddress + range.lowerBound, range.count)
        }

        public func flush(_ ranges: [Range<Int>]) {
            let flush = self.flushFunction
            let base = self.baseAddress
            ranges.withUnsafeBufferPointer { ranges in
                for range in ranges {
                    flush(base + range.lowerBound, range.count)
                }
            }
        }

        public func drain() {
            self.drainFunction()
        }

        /// Copies as libpmem2's copy does, except for ``MemoryCopyFlags/nonTemporal`` copies of whole words
        /// (an 8-byte-aligned offset and a length that is a multiple of 8) without ``MemoryCopyFlags/noFlush``
        /// or ``MemoryCopyFlags/temporal``, on x86-64 with cache-line or byte granularity: those are made of
        /// non-temporal stores alone, 8 or 32 bytes wide, and need no flush.
        ///
        /// libpmem2 copies the partial cache lines at either end of a range with ordinary stores and flushes
        /// them; a drain then waits for those flushes, which took a synchronous append's full write-back
        /// latency on the machines measured (`Docs/Media.md`). In a C loop, an entry of 64 bytes and its
        /// terminator written non-temporally were durable after one drain in about 170 ns, against 200 – 220
        /// ns with ordinary stores and a flush of their lines.
        public func copy(toOffset offset: Int, from source: UnsafeRawBufferPointer, flags: MemoryCopyFlags) {
            assert(offset + source.count <= self.size, "copy beyond the end of the medium")
            if self.copiesWordsNonTemporally, flags.contains(.nonTemporal),
                flags.isDisjoint(with: [.noFlush, .temporal]), (offset | source.count) & 7 == 0
            {
                if let start = source.baseAddress {
                    pmemstream_copy_nontemporal(self.baseAddress + offset, start, source.count)
                }
                if !flags.contains(.noDrain) {
                    self.drainFunction()
                }
                return
            }
            _ = self.memcpyFunction(self.baseAddress + offset, source.baseAddress, source.count, flags.rawValue)
        }

        public func fill(_ range: Range<Int>, with value: UInt8, flags: MemoryCopyFlags) {
            assert(range.upperBound <= self.size, "fill beyond the end of the medium")
            _ = self.memsetFunction(self.baseAddress + range.lowerBound, Int32(value), range.count, flags.rawValue)
        }

        public func deepFlush(_ range: Range<Int>) throws(PMemStreamError) {
            try SystemCalls.deepFlush(
                self.resources.map,
                address: self.baseAddress + range.lowerBound,
                count: range.count
            )
        }

        /// Claims the mapping for one writing stream, taking the file's writer's lock again if an earlier
        /// stream gave it back.
        public func beginWriting() throws(PMemStreamError) {
            guard !self.isReadOnly else {
                throw PMemStreamError(code: .readOnlyStream, message: "\(self.path) is mapped read-only")
            }
            try self.writer.withLock { (writer: inout (isClaimed: Bool, holdsLock: Bool)) throws(PMemStreamError) in
                guard !writer.isClaimed else {
                    throw PMemStreamError(
                        code: .streamInUse,
                        message: "a stream already writes \(self.path) through this mapping"
                    )
                }
                if !writer.holdsLock {
                    try SystemCalls.lockExclusively(self.resources.fd, path: self.path)
                    writer.holdsLock = true
                }
                writer.isClaimed = true
            }
        }

        /// Gives back the claim of ``beginWriting()`` and releases the file's writer's lock.
        public func endWriting() {
            self.writer.withLock { writer in
                guard writer.isClaimed else { return }
                writer.isClaimed = false
                writer.holdsLock = false
                SystemCalls.unlock(self.resources.fd)
            }
        }

        /// Removes the file if this mapping created it, for a caller that could not make a stream of it: under
        /// the writer's lock, taken again if it was given back, so that no other process has opened the file
        /// for writing meanwhile; when another process holds the lock, the file is left to it.
        func removeCreatedFile() {
            guard self.createdFile else { return }
            self.writer.withLock { writer in
                if !writer.holdsLock {
                    guard (try? SystemCalls.lockExclusively(self.resources.fd, path: self.path)) != nil else { return }
                    writer.holdsLock = true
                }
                // Only the file this mapping created: the path may name another one by now.
                var named = stat()
                guard let mapped = try? SystemCalls.status(of: self.resources.fd, path: self.path),
                    stat(self.path, &named) == 0, named.st_dev == mapped.st_dev, named.st_ino == mapped.st_ino
                else { return }
                SystemCalls.unlink(self.path)
            }
        }

        // MARK: - Opening and mapping

        /// Opens `path` for reading and writing, creating it (exclusively) when it is absent and `creating` is
        /// set; or, with `readOnly`, opens an existing `path` for reading.
        ///
        /// Never blocks: a FIFO opened for reading would wait for a writer to appear, and a file under another
        /// process's lease for the lease to be broken. With `O_NONBLOCK` the first opens and is refused as no
        /// stream right after, and the second fails at once; the flag changes nothing else for the files and
        /// devices a stream lives on.
        private static func openOrCreate(_ path: String, creating: Bool, readOnly: Bool) throws(PMemStreamError) -> (
            fd: Int32, created: Bool
        ) {
            let flags = O_NONBLOCK | O_NOCTTY
            do throws(PMemStreamError) {
                return (try SystemCalls.open(path, flags: flags | (readOnly ? O_RDONLY : O_RDWR)), false)
            } catch .fileNotFound where creating && !readOnly {
                do throws(PMemStreamError) {
                    return (try SystemCalls.open(path, flags: flags | O_RDWR | O_CREAT | O_EXCL), true)
                } catch let error where error.errno == EEXIST {
                    // Another process created it in between: open theirs (its writer's lock decides).
                    return (try SystemCalls.open(path, flags: flags | O_RDWR), false)
                }
            }
        }

        /// Takes the writer's lock unless the mapping is read-only, then sizes the file when it is new, maps it
        /// and describes the mapping to libpmem2. The returned value owns `fd`, which is closed on failure too
        /// (releasing the lock). A file this call `created` is removed on failure while its lock is still
        /// held, so that no other process can have opened it for writing meanwhile; when the lock cannot be
        /// taken, another process has opened it already, and it is left to that process.
        private static func map(
            fd: Int32,
            path: String,
            size: Int?,
            options: Options,
            created: Bool
        ) throws(PMemStreamError) -> MappedFile {
            var file = MappedFile(fd: fd)
            if !options.readOnly {
                try SystemCalls.lockExclusively(fd, path: path)
            }
            do throws(PMemStreamError) {
                try Self.mapLocked(&file, path: path, size: size, options: options)
            } catch {
                if created {
                    SystemCalls.unlink(path)
                }
                throw error
            }
            return file
        }

        /// Gives the holes of an existing file its blocks (a file made with `truncate`, or copied sparse), so
        /// that a store into the mapping never meets a full file system (a `SIGBUS`): the open fails with
        /// ``PMemStreamError/Code/outOfSpace`` instead. Blocks the file has are kept, and so is its size.
        ///
        /// The file's block count shows its holes, less the blocks it has that hold no data (extended
        /// attributes, blocks allocated beyond its end), which can hide them all; so `posix_fallocate` runs
        /// every time, and changes nothing for a file whose blocks are all there. When the file system has
        /// less room free than the holes the block count shows, nothing is allocated; when hidden holes need
        /// more than it has, `posix_fallocate` keeps what it allocated before it failed.
        private static func allocateHoles(_ fd: Int32, status: stat, path: String) throws(PMemStreamError) {
            let shown = Int(status.st_size) - Int(status.st_blocks) * 512
            if shown > 0, try SystemCalls.availableBytes(fd, path: path) < shown {
                throw PMemStreamError(
                    code: .outOfSpace,
                    message: "\(path) has holes of about \(shown) bytes, more than its file system has free"
                )
            }
            try SystemCalls.allocate(fd, size: Int(status.st_size), path: path)
        }

        /// What ``map(fd:path:size:options:created:)`` does once it holds the lock, into `file`.
        private static func mapLocked(
            _ file: inout MappedFile,
            path: String,
            size: Int?,
            options: Options
        ) throws(PMemStreamError) {
            let fd = file.fd
            let status = try SystemCalls.status(of: fd, path: path)
            switch status.st_mode & S_IFMT {
            case S_IFREG where status.st_size == 0:
                guard let size, !options.readOnly else {
                    let why =
                        options.readOnly ? "a read-only mapping never sizes it" : "no size was given to create it with"
                    throw PMemStreamError(code: .invalidMediumSize, message: "\(path) is empty and \(why)")
                }
                try SystemCalls.allocate(fd, size: size, path: path)
            case S_IFREG, S_IFCHR:
                break
            default:
                throw PMemStreamError(
                    code: .cannotOpenFile,
                    message: "\(path) is neither a regular file nor a DAX device"
                )
            }
            let source = try SystemCalls.source(fromDescriptor: fd, path: path)
            file.source = source
            let existingSize = try SystemCalls.size(of: source, path: path)
            if let size, size != existingSize {
                throw PMemStreamError(
                    code: .invalidMediumSize,
                    message: "\(path) holds \(existingSize) bytes, not the \(size) bytes asked for"
                )
            }
            if status.st_mode & S_IFMT == S_IFREG, status.st_size > 0, !options.readOnly {
                try Self.allocateHoles(fd, status: status, path: path)
            }
            let (address, synchronous) = try SystemCalls.mapShared(
                fd,
                size: existingSize,
                readOnly: options.readOnly,
                path: path
            )
            file.mapping = (address, existingSize)
            let cachesArePersistent = synchronous && SystemCalls.cachesArePersistent()
            let detected = StoreGranularity(
                synchronousMapping: synchronous,
                cachesArePersistent: cachesArePersistent,
                forced: nil
            )
            let granularity = StoreGranularity(
                synchronousMapping: synchronous,
                cachesArePersistent: cachesArePersistent,
                forced: getenv("PMEM2_FORCE_GRANULARITY").map { String(cString: $0) }
            )
            guard granularity.isAtLeastAsFine(as: options.requiredGranularity) else {
                let why =
                    if granularity != detected {
                        "PMEM2_FORCE_GRANULARITY sets it"
                    } else if synchronous {
                        "the CPU caches are not in the persistence domain (no eADR)"
                    } else {
                        "it is not on persistent memory mounted with DAX"
                    }
                throw PMemStreamError(
                    code: .mappingFailed,
                    message: """
                        \(path) is mapped with \(granularity) granularity, but \(options.requiredGranularity) \
                        granularity was required: \(why)
                        """
                )
            }
            file.granularity = granularity
            if granularity != .page {
                file.map = try SystemCalls.describeMapping(
                    at: address,
                    size: existingSize,
                    of: source,
                    granularity: granularity,
                    path: path
                )
            }
        }

        /// Reads one byte of every page and, unless the mapping is read-only, writes it back, so that later
        /// loads and stores fault no pages in.
        private func prefault() {
            let pageSize = sysconf(Int32(_SC_PAGESIZE))
            var sum: UInt8 = 0
            for offset in stride(from: 0, to: self.size, by: pageSize) {
                let byte = self.baseAddress.load(fromByteOffset: offset, as: UInt8.self)
                if self.isReadOnly {
                    sum &+= byte
                } else {
                    _ = self.memsetFunction(self.baseAddress + offset, Int32(byte), 1, MemoryCopyFlags.noFlush.rawValue)
                }
            }
            withExtendedLifetime(sum) {}
        }
    }

    // MARK: - Owned libpmem2 resources

    /// The descriptor, libpmem2 source, mapping and libpmem2 description of the mapping of one file;
    /// released in reverse order when dropped.
    ///
    /// The writer's lock is released explicitly before the descriptor is closed. It belongs to the open file
    /// description, and a child process that another thread is spawning holds a copy of every descriptor
    /// until it runs its program: closing ours alone would leave the file locked until then, and a writer
    /// opening it at once would get `streamInUse`.
    private struct MappedFile: ~Copyable {
        let fd: Int32
        var source: OpaquePointer?
        var mapping: (address: UnsafeMutableRawPointer, size: Int)?
        var granularity = StoreGranularity.page
        /// libpmem2's description of `mapping`, which provides its persist and copy functions; deleting it
        /// leaves the mapping in place. `nil` for a page-granular mapping, which uses ``PageSync`` instead.
        var map: OpaquePointer?

        init(fd: Int32) {
            self.fd = fd
        }

        deinit {
            var map = self.map
            if map != nil {
                // It fails only for a map libpmem2 does not know, which would be a bug here.
                let status = pmem2_map_delete(&map)
                assert(status == 0, "pmem2_map_delete failed with \(status)")
            }
            if let mapping = self.mapping {
                SystemCalls.unmap(mapping.address, size: mapping.size)
            }
            var source = self.source
            if source != nil {
                pmem2_source_delete(&source)
            }
            SystemCalls.unlock(self.fd)
            SystemCalls.close(self.fd)
        }
    }
#endif
