#if os(Linux)
    @preconcurrency import Glibc

    /// The persist, flush, drain, copy and fill functions of a mapping with ``StoreGranularity/page``
    /// granularity (an ordinary file): a store is durable once its page is written back with `msync`.
    ///
    /// They are what libpmem2 does for such a mapping, written here because ``Pmem2Mapping`` maps files itself
    /// (see ``SystemCalls/mapShared(_:size:readOnly:path:)``), and libpmem2's own page functions loop forever
    /// on a mapping it did not make (`pmem2_map_from_existing`): they walk its registry of mappings, where such
    /// a mapping has no length. A flush is the write-back itself, so a drain has nothing left to wait for.
    enum PageSync {
        /// Writes back the pages that hold a range and waits until they are on the medium.
        static let persist: @convention(c) (UnsafeRawPointer?, Int) -> Void = { address, count in
            PageSync.writeBack(address, count)
        }

        /// Nothing to wait for: ``persist`` returns only once the pages are written back.
        static let drain: @convention(c) () -> Void = {}

        /// Copies and, unless `flags` hold `noFlush`, writes the pages back.
        static let copy:
            @convention(c) (UnsafeMutableRawPointer?, UnsafeRawPointer?, Int, UInt32) -> UnsafeMutableRawPointer? = {
                destination,
                source,
                count,
                flags in
                if let destination, let source {
                    destination.copyMemory(from: source, byteCount: count)
                }
                if flags & MemoryCopyFlags.noFlush.rawValue == 0 {
                    PageSync.writeBack(destination, count)
                }
                return destination
            }

        /// Fills and, unless `flags` hold `noFlush`, writes the pages back.
        static let fill: @convention(c) (UnsafeMutableRawPointer?, Int32, Int, UInt32) -> UnsafeMutableRawPointer? = {
            destination,
            value,
            count,
            flags in
            if let destination {
                destination.initializeMemory(as: UInt8.self, repeating: UInt8(truncatingIfNeeded: value), count: count)
            }
            if flags & MemoryCopyFlags.noFlush.rawValue == 0 {
                PageSync.writeBack(destination, count)
            }
            return destination
        }

        /// `msync(MS_SYNC)` of the whole pages that hold `count` bytes at `address`.
        ///
        /// - Throws: ``PMemStreamError/Code/ioError`` with the `errno` when the pages could not be written
        ///   back, ``PMemStreamError/Code/outOfSpace`` when the file system had no room for them.
        static func sync(_ address: UnsafeRawPointer, _ count: Int) throws(PMemStreamError) {
            guard count > 0 else { return }
            let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
            let start = Int(bitPattern: address) & ~(pageSize - 1)
            let length = Int(bitPattern: address) + count - start
            while msync(UnsafeMutableRawPointer(bitPattern: start), length, MS_SYNC) != 0 {
                let error = Glibc.errno
                guard error == EINTR else {
                    throw PMemStreamError(
                        code: error == ENOSPC || error == EDQUOT ? .outOfSpace : .ioError,
                        message: "msync of \(count) bytes: \(String(cString: strerror(error)))",
                        errno: error,
                        location: .init(fileID: #fileID, line: #line)
                    )
                }
            }
        }

        /// ``sync(_:_:)`` where a failure cannot be reported: like libpmem2, it stops the program rather than
        /// let a caller believe that bytes are durable when they are not.
        private static func writeBack(_ address: UnsafeRawPointer?, _ count: Int) {
            guard let address else { return }
            do throws(PMemStreamError) {
                try Self.sync(address, count)
            } catch {
                fatalError("PMemStream could not write pages back to the medium: \(error.message)")
            }
        }
    }
#endif
