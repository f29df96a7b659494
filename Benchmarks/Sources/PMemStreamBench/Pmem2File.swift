import CPMem2Bench
import Glibc

/// A fresh file mapped through libpmem2 for the ceiling and memcpy engines, with its copy and drain
/// functions fetched once.
///
/// - Important: `@unchecked Sendable`: the mapping and the function pointers never change between `init`
///   and ``remove()``, libpmem2's functions are thread-safe, and the threads of a run write disjoint ranges.
final class Pmem2File: @unchecked Sendable {
    /// The address of byte 0.
    let base: UnsafeMutableRawPointer
    /// The size of the mapping.
    let size: Int
    /// The store granularity libpmem2 chose.
    let granularity: pmem2_granularity
    /// `pmem2_get_memcpy_fn`: copies, then flushes and drains unless the flags say otherwise.
    let memcpy: pmem2_memcpy_fn
    /// `pmem2_get_drain_fn`: waits for every earlier flush.
    let drain: pmem2_drain_fn

    private let path: String
    private var map: OpaquePointer?

    /// Creates `path` (which must not exist) with `size` bytes and maps it.
    ///
    /// The descriptor and the libpmem2 source are released as soon as the mapping exists; the mapping
    /// keeps what it needs of them.
    /// - Parameters:
    ///   - path: The new file.
    ///   - size: Its size.
    ///   - prefault: Touch every page after mapping, so the timed loop meets no page faults.
    /// - Throws: ``BenchmarkError`` when the file cannot be created or libpmem2 refuses to map it.
    init(creating path: String, size: Int, prefault: Bool) throws {
        let fd = try ScratchFile.create(path, size: size)
        defer { close(fd) }
        var source: OpaquePointer?
        var config: OpaquePointer?
        var map: OpaquePointer?
        defer {
            pmem2_config_delete(&config)
            pmem2_source_delete(&source)
        }
        guard pmem2_source_from_fd(&source, fd) == 0,
            pmem2_config_new(&config) == 0,
            pmem2_config_set_required_store_granularity(config, PMEM2_GRANULARITY_PAGE) == 0,
            pmem2_map_new(&map, config, source) == 0,
            let map
        else {
            let message = String(cString: pmem2_errormsg())
            _ = unlink(path)
            throw BenchmarkError("libpmem2 could not map \(path): \(message)")
        }
        self.path = path
        self.map = map
        self.base = pmem2_map_get_address(map)!
        self.size = pmem2_map_get_size(map)
        self.granularity = pmem2_map_get_store_granularity(map)
        self.memcpy = pmem2_get_memcpy_fn(map)!
        self.drain = pmem2_get_drain_fn(map)!
        if prefault {
            ScratchFile.prefault(self.base, size: self.size)
        }
    }

    /// How libpmem2 names the granularity it chose.
    var granularityName: String {
        switch self.granularity {
        case PMEM2_GRANULARITY_BYTE: "byte"
        case PMEM2_GRANULARITY_CACHE_LINE: "cache line"
        default: "page"
        }
    }

    /// Unmaps and deletes the file.
    func remove() throws {
        self.unmap()
        try ScratchFile.remove(self.path)
    }

    deinit {
        self.unmap()
    }

    private func unmap() {
        if self.map != nil {
            pmem2_map_delete(&self.map)
        }
    }
}
