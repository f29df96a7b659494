import Glibc

/// The file an iteration works in: removed before an engine creates it, and after the engine is done.
enum ScratchFile {
    /// Removes `path` if it exists.
    ///
    /// - Throws: ``BenchmarkError`` when it exists and cannot be removed.
    static func remove(_ path: String) throws {
        guard unlink(path) == 0 || errno == ENOENT else {
            throw BenchmarkError.system("unlink", path: path)
        }
    }

    /// Creates `path` exclusively with `size` bytes reserved, and returns its descriptor.
    ///
    /// - Throws: ``BenchmarkError`` when the file exists or the file system cannot hold it.
    static func create(_ path: String, size: Int) throws -> Int32 {
        let fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw BenchmarkError.system("open", path: path) }
        let status = posix_fallocate(fd, 0, off_t(size))
        guard status == 0 else {
            close(fd)
            _ = unlink(path)
            errno = status
            throw BenchmarkError.system("posix_fallocate of \(size) bytes", path: path)
        }
        return fd
    }

    /// The bytes free in the file system that holds `path`'s directory.
    static func freeSpace(near path: String) -> Int? {
        let directory = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        var status = statvfs()
        guard statvfs(directory.isEmpty ? "." : directory, &status) == 0 else { return nil }
        return Int(status.f_bavail) * Int(status.f_frsize)
    }

    /// Writes a zero byte to every page of a fresh, zero-filled mapping, so that the timed loop meets no
    /// page faults. (`memset` rather than reading and writing back a byte, which the optimiser may drop.)
    static func prefault(_ base: UnsafeMutableRawPointer, size: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        for offset in stride(from: 0, to: size, by: page) {
            memset(base + offset, 0, 1)
        }
    }
}
