#if os(Linux)
    @preconcurrency import Glibc
    import CNuma
    import CPMem2
#else
    #error("PMemStream requires Linux: it maps persistent memory through libpmem2")
#endif

/// The choke points for every system call and libpmem2 call PMemStream makes outside the hot path.
///
/// Each function turns a failure into a ``PMemStreamError`` in one place and, in debug builds, lets the
/// tests inject failures through ``SystemCallMocking``. The persist, flush, drain and copy functions are
/// not here: they are fetched once per mapping and called directly (see ``Pmem2Mapping``).
enum SystemCalls {
    // MARK: - Files

    /// Opens a file and returns its descriptor.
    ///
    /// The corresponding C function is `open`.
    static func open(
        _ path: String,
        flags: Int32,
        mode: mode_t = 0o644,
        location: PMemStreamError.SourceLocation = .init(fileID: #fileID, line: #line)
    ) throws(PMemStreamError) -> Int32 {
        try self.failIfInjected(.open, operation: "open \(path)")
        let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw PMemStreamError(errno: Glibc.errno, operation: "open \(path)", location: location)
        }
        return fd
    }

    /// Returns the status of an open file.
    ///
    /// The corresponding C function is `fstat`.
    static func status(of fd: Int32, path: String) throws(PMemStreamError) -> stat {
        var result = stat()
        guard fstat(fd, &result) == 0 else {
            throw PMemStreamError(
                errno: Glibc.errno,
                operation: "fstat \(path)",
                location: .init(fileID: #fileID, line: #line)
            )
        }
        return result
    }

    /// The bytes the file system of `fd` has free for an unprivileged writer.
    ///
    /// The corresponding C function is `fstatvfs`.
    static func availableBytes(_ fd: Int32, path: String) throws(PMemStreamError) -> Int {
        var result = statvfs()
        guard fstatvfs(fd, &result) == 0 else {
            throw PMemStreamError(
                errno: Glibc.errno,
                operation: "fstatvfs \(path)",
                location: .init(fileID: #fileID, line: #line)
            )
        }
        return Int(result.f_bavail) * Int(result.f_frsize)
    }

    /// Reserves the blocks of a file up to `size`, so that a later store into the mapping never finds the
    /// file system full.
    ///
    /// The corresponding C function is `posix_fallocate`.
    static func allocate(_ fd: Int32, size: Int, path: String) throws(PMemStreamError) {
        let operation = "posix_fallocate \(size) bytes for \(path)"
        try self.failIfInjected(.fallocate, operation: operation)
        let status = posix_fallocate(fd, 0, off_t(size))
        guard status == 0 else {
            throw PMemStreamError(errno: status, operation: operation, location: .init(fileID: #fileID, line: #line))
        }
    }

    /// Closes a file descriptor; errors are ignored because nothing is left to undo.
    ///
    /// The corresponding C function is `close`.
    static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    /// Takes the exclusive writer's lock of a file without waiting: held until ``unlock(_:)`` or until every
    /// copy of the descriptor is closed.
    ///
    /// The corresponding C function is `flock`.
    /// - Throws: ``PMemStreamError/Code/streamInUse`` when another open file description holds it.
    static func lockExclusively(_ fd: Int32, path: String) throws(PMemStreamError) {
        guard flock(fd, LOCK_EX | LOCK_NB) != 0 else { return }
        let error = Glibc.errno
        guard error == EWOULDBLOCK else {
            throw PMemStreamError(
                errno: error,
                operation: "flock \(path)",
                location: .init(fileID: #fileID, line: #line)
            )
        }
        throw PMemStreamError(
            code: .streamInUse,
            message: "\(path) is open for writing elsewhere; only one writer at a time (open it read-only to read it)"
        )
    }

    /// Releases the lock ``lockExclusively(_:path:)`` took, if it is held, at once, even while a child
    /// process being spawned still holds a copy of the descriptor. Errors are ignored: closing the last copy
    /// releases it in the end.
    ///
    /// The corresponding C function is `flock`.
    static func unlock(_ fd: Int32) {
        _ = flock(fd, LOCK_UN)
    }

    /// Removes a file this process created and could not finish setting up.
    ///
    /// The corresponding C function is `unlink`.
    static func unlink(_ path: String) {
        _ = Glibc.unlink(path)
    }

    // MARK: - libpmem2

    /// The text of libpmem2's last error in this thread.
    ///
    /// The corresponding C function is `pmem2_errormsg`.
    static func pmem2ErrorMessage() -> String {
        guard let message = pmem2_errormsg() else { return "unknown libpmem2 error" }
        return String(cString: message)
    }

    /// Wraps an open descriptor in a libpmem2 source.
    ///
    /// The corresponding C function is `pmem2_source_from_fd`.
    static func source(fromDescriptor fd: Int32, path: String) throws(PMemStreamError) -> OpaquePointer {
        var source: OpaquePointer?
        try self.check(pmem2_source_from_fd(&source, fd), operation: "pmem2_source_from_fd for \(path)")
        return source!
    }

    /// The size of a libpmem2 source in bytes.
    ///
    /// The corresponding C function is `pmem2_source_size`.
    static func size(of source: OpaquePointer, path: String) throws(PMemStreamError) -> Int {
        var size = 0
        try self.check(pmem2_source_size(source, &size), operation: "pmem2_source_size for \(path)")
        return size
    }

    /// The NUMA node of a source, or `nil` when libpmem2 cannot tell (regular files, no NUMA).
    ///
    /// The corresponding C function is `pmem2_source_numa_node`.
    static func numaNode(of source: OpaquePointer) -> Int? {
        var node: Int32 = -1
        guard pmem2_source_numa_node(source, &node) == 0, node >= 0 else { return nil }
        return Int(node)
    }

    /// Maps a whole file or DAX device, shared, at an address the kernel chooses, and says whether the
    /// kernel made the mapping synchronous (`MAP_SYNC`: on DAX, where stores need no `msync` to be durable).
    ///
    /// `MAP_SYNC` is asked for first, and an ordinary shared mapping made when the file does not support
    /// it. Neither call passes `MAP_FIXED`, which is why PMemStream maps files itself instead of calling
    /// `pmem2_map_new`: on a file system that accepts the `MAP_SYNC` flag but is not on DAX (ext4, XFS), a
    /// `MAP_FIXED` mapping with it fails only after it has unmapped its address range, and before libpmem2
    /// maps the file there again, another thread's new mapping can land in that range and be replaced by
    /// the file (see `Docs/Media.md`).
    ///
    /// The corresponding C function is `mmap`.
    /// - Throws: ``PMemStreamError/Code/mappingFailed`` with the `errno`, or
    ///   ``PMemStreamError/Code/permissionDenied`` when the file's access does not allow the mapping.
    static func mapShared(_ fd: Int32, size: Int, readOnly: Bool, path: String) throws(PMemStreamError) -> (
        address: UnsafeMutableRawPointer, synchronous: Bool
    ) {
        let operation = "mmap \(path)"
        try self.failIfInjected(.mmap, operation: operation)
        let protection = readOnly ? PROT_READ : PROT_READ | PROT_WRITE
        if let address = Glibc.mmap(nil, size, protection, MAP_SHARED_VALIDATE | MAP_SYNC, fd, 0),
            address != MAP_FAILED
        {
            return (address, true)
        }
        var error = Glibc.errno
        if error == EOPNOTSUPP || error == EINVAL {
            if let address = Glibc.mmap(nil, size, protection, MAP_SHARED, fd, 0), address != MAP_FAILED {
                return (address, false)
            }
            error = Glibc.errno
        }
        throw Self.mappingError(errno: error, operation: operation)
    }

    /// The error for a failed `mmap`.
    private static func mappingError(errno: Int32, operation: String) -> PMemStreamError {
        PMemStreamError(
            code: errno == EACCES || errno == EPERM ? .permissionDenied : .mappingFailed,
            message: "\(operation): \(String(cString: strerror(errno)))",
            errno: errno,
            location: .init(fileID: #fileID, line: #line)
        )
    }

    /// Whether the CPU caches are in the persistence domain (eADR): every NVDIMM region under `devices`
    /// reports `cpu_cache` as its `persistence_domain`, and there is at least one. Stores to a synchronous
    /// mapping are then durable once they leave the CPU, with no cache flush.
    ///
    /// The corresponding C function is libpmem2's internal `pmem2_auto_flush`, which reads the same files.
    static func cachesArePersistent(devices: String = "/sys/bus/nd/devices") -> Bool {
        guard let directory = opendir(devices) else { return false }
        defer { closedir(directory) }
        var regions = 0
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard name.hasPrefix("region") else { continue }
            guard Self.firstLine(of: "\(devices)/\(name)/persistence_domain") == "cpu_cache" else { return false }
            regions += 1
        }
        return regions > 0
    }

    /// The first line of a small file, without its newline; `nil` when it cannot be read.
    private static func firstLine(of path: String) -> String? {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { _ = Glibc.close(fd) }
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard count >= 0 else { return nil }
        return String(decoding: buffer[..<count].prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
    }

    /// Removes a mapping ``mapShared(_:size:readOnly:path:)`` made.
    ///
    /// The corresponding C function is `munmap`.
    static func unmap(_ address: UnsafeMutableRawPointer, size: Int) {
        _ = Glibc.munmap(address, size)
    }

    /// Describes a mapping ``mapShared(_:size:readOnly:path:)`` made to libpmem2, which then provides the
    /// persist, flush, drain, copy and fill functions of `granularity` for it. Deleting the description
    /// does not unmap the mapping.
    ///
    /// The corresponding C function is `pmem2_map_from_existing`.
    static func describeMapping(
        at address: UnsafeMutableRawPointer,
        size: Int,
        of source: OpaquePointer,
        granularity: StoreGranularity,
        path: String
    ) throws(PMemStreamError) -> OpaquePointer {
        var map: OpaquePointer?
        try self.check(
            pmem2_map_from_existing(&map, source, address, size, granularity.pmem2Value),
            operation: "pmem2_map_from_existing for \(path)"
        )
        return map!
    }

    /// Flushes a range of a mapping all the way to the medium: through libpmem2's description of the mapping
    /// (`map`), or, for a page-granular mapping, which has none, by writing its pages back.
    ///
    /// The corresponding C functions are `pmem2_deep_flush` and `msync`.
    static func deepFlush(_ map: OpaquePointer?, address: UnsafeMutableRawPointer, count: Int) throws(PMemStreamError) {
        guard let map else {
            try self.failIfInjected(.deepFlush, operation: "msync of \(count) bytes")
            try PageSync.sync(address, count)
            return
        }
        let operation = "pmem2_deep_flush of \(count) bytes"
        try self.failIfInjected(.deepFlush, operation: operation)
        try self.check(pmem2_deep_flush(map, address, count), operation: operation)
    }

    // MARK: - NUMA

    /// The nodes that have a processor the calling thread may run on, in increasing order; `nil` when the
    /// kernel does not support NUMA placement.
    ///
    /// The corresponding C functions are `numa_available`, `numa_max_node`, `numa_node_to_cpus` and
    /// `numa_sched_getaffinity`. A node whose processors libnuma cannot read is left out, and so is every node
    /// when the thread's own processors cannot be read.
    static func numaNodesWithProcessors() -> [Int]? {
        guard numa_available() >= 0 else { return nil }
        guard let allowed = try? Set(Self.processorsOfCurrentThread()) else { return [] }
        let processors = numa_allocate_cpumask()
        defer { numa_bitmask_free(processors) }
        let nodes = (0...max(numa_max_node(), 0)).filter { node in
            numa_node_to_cpus(node, processors) == 0
                && Self.processors(in: processors).contains(where: allowed.contains)
        }
        return nodes.map { Int($0) }
    }

    /// Binds the calling thread to the processors of NUMA node `node` that it may run on already.
    ///
    /// The thread then runs on the node, and never on a processor it was kept from: a process started with
    /// `taskset`, or confined by a cpuset, keeps its persist workers within its own processors, and so does a
    /// thread restricted by itself (a new thread starts with the processors of the thread that creates it).
    /// `numa_run_on_node` would widen the thread's processors to all of the node's.
    ///
    /// The corresponding C functions are `numa_node_to_cpus`, `numa_sched_getaffinity` and
    /// `numa_sched_setaffinity`.
    /// - Throws: The error of the failed call, with its `errno`; ``PMemStreamError/Code/invalidArgument``
    ///   when the thread may run on none of the node's processors.
    static func bindCurrentThread(toNode node: Int) throws(PMemStreamError) {
        try self.failIfInjected(.bindThread, operation: "numa_sched_setaffinity")
        let location = PMemStreamError.SourceLocation(fileID: #fileID, line: #line)
        let nodeProcessors = numa_allocate_cpumask()
        let allowed = numa_allocate_cpumask()
        defer {
            numa_bitmask_free(nodeProcessors)
            numa_bitmask_free(allowed)
        }
        guard numa_node_to_cpus(Int32(node), nodeProcessors) == 0 else {
            throw PMemStreamError(errno: Glibc.errno, operation: "numa_node_to_cpus", location: location)
        }
        guard numa_sched_getaffinity(0, allowed) >= 0 else {
            throw PMemStreamError(errno: Glibc.errno, operation: "numa_sched_getaffinity", location: location)
        }
        for processor in Self.processors(in: allowed)
        where numa_bitmask_isbitset(nodeProcessors, UInt32(processor)) == 0 {
            numa_bitmask_clearbit(allowed, UInt32(processor))
        }
        guard !Self.processors(in: allowed).isEmpty else {
            throw PMemStreamError(
                code: .invalidArgument,
                message: "none of the node's processors is one this thread may run on",
                location: location
            )
        }
        guard numa_sched_setaffinity(0, allowed) == 0 else {
            throw PMemStreamError(errno: Glibc.errno, operation: "numa_sched_setaffinity", location: location)
        }
    }

    /// The processors the calling thread may run on, as the kernel reports them, in increasing order.
    ///
    /// The corresponding C function is `numa_sched_getaffinity`.
    /// - Throws: The error of the failed call, with its `errno`.
    static func processorsOfCurrentThread() throws(PMemStreamError) -> [Int] {
        let mask = numa_allocate_cpumask()
        defer { numa_bitmask_free(mask) }
        guard numa_sched_getaffinity(0, mask) >= 0 else {
            throw PMemStreamError(
                errno: Glibc.errno,
                operation: "numa_sched_getaffinity",
                location: .init(fileID: #fileID, line: #line)
            )
        }
        return Self.processors(in: mask)
    }

    /// The processors set in a libnuma processor mask, in increasing order.
    private static func processors(in mask: UnsafeMutablePointer<bitmask>?) -> [Int] {
        let count = UInt32(max(numa_num_possible_cpus(), 0))
        return (0..<count).filter { numa_bitmask_isbitset(mask, $0) != 0 }.map { Int($0) }
    }

    /// Throws the failure a test injected for `call` through ``SystemCallMocking``; does nothing in release builds.
    @inline(__always)
    private static func failIfInjected(_ call: SystemCallMocking.Call, operation: String) throws(PMemStreamError) {
        #if ENABLE_MOCKING
            guard let injected = SystemCallMocking.injectedFailure(for: call) else { return }
            let location = PMemStreamError.SourceLocation(fileID: #fileID, line: #line)
            switch call {
            case .open, .fallocate, .bindThread:
                throw PMemStreamError(errno: injected, operation: operation, location: location)
            case .mmap:
                throw Self.mappingError(errno: injected, operation: operation)
            case .deepFlush:
                throw PMemStreamError(
                    pmem2Status: injected,
                    operation: operation,
                    detail: "injected failure",
                    location: location
                )
            }
        #endif
    }

    /// Throws the error for a non-zero libpmem2 status.
    private static func check(
        _ status: Int32,
        operation: String,
        location: PMemStreamError.SourceLocation = .init(fileID: #fileID, line: #line)
    ) throws(PMemStreamError) {
        guard status != 0 else { return }
        throw PMemStreamError(
            pmem2Status: status,
            operation: operation,
            detail: self.pmem2ErrorMessage(),
            location: location
        )
    }
}

extension StoreGranularity {
    /// The libpmem2 constant for this granularity.
    var pmem2Value: pmem2_granularity {
        switch self {
        case .byte: PMEM2_GRANULARITY_BYTE
        case .cacheLine: PMEM2_GRANULARITY_CACHE_LINE
        case .page: PMEM2_GRANULARITY_PAGE
        }
    }
}
