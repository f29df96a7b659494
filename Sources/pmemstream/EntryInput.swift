import PMemStream

#if os(Linux)
    import Glibc
#endif

/// Where `append` reads entries from, a `--file` or standard input: raw bytes, read with `read(2)`.
///
/// An entry larger than ``limit`` can never be appended, so reading stops as soon as one grows beyond it:
/// an endless input such as `/dev/zero` fails with ``PMemStreamError/Code/entryTooLarge`` rather than filling
/// the memory.
struct EntryInput {
    /// The file descriptor read from.
    let descriptor: Int32
    /// What an error calls the input: the file's path, or "standard input".
    let name: String
    /// The most bytes an entry may have: what the target region can still hold, headers included.
    let limit: Int

    /// Reads the whole contents of the file at `path`, which are one entry.
    ///
    /// - Throws: ``PMemStreamError/Code/cannotOpenFile`` when the file cannot be opened or read (a
    ///   directory, a missing file), ``PMemStreamError/Code/entryTooLarge`` when it holds more than `limit`
    ///   bytes.
    static func contents(of path: String, limit: Int) throws(PMemStreamError) -> [UInt8] {
        var descriptor: Int32
        repeat {
            descriptor = open(path, O_RDONLY)
        } while descriptor < 0 && errno == EINTR
        guard descriptor >= 0 else {
            throw PMemStreamError(errno: errno, path: path)
        }
        defer { close(descriptor) }
        let input = EntryInput(descriptor: descriptor, name: path, limit: limit)
        var bytes: [UInt8] = []
        while try input.read(appendingTo: &bytes) {
            try input.checkLimit(bytes)
        }
        return bytes
    }

    /// Calls `body` with each line of the input as soon as it is read: its bytes as they are, without its
    /// newline (0x0A), which is the only byte that ends a line. A last line without a newline is one too.
    ///
    /// - Throws: What `body` throws; ``PMemStreamError/Code/cannotOpenFile`` when the input cannot be read,
    ///   ``PMemStreamError/Code/entryTooLarge`` when a line grows beyond ``limit`` bytes.
    func forEachLine(_ body: ([UInt8]) async throws -> Void) async throws {
        var pending: [UInt8] = []
        // The bytes of `pending` known to hold no newline: each byte is searched once, however long its line.
        var searched = 0
        while try self.read(appendingTo: &pending) {
            var start = 0
            var from = searched
            while let newline = pending[from...].firstIndex(of: UInt8(ascii: "\n")) {
                try await body(Array(pending[start..<newline]))
                start = newline + 1
                from = start
            }
            pending.removeSubrange(..<start)
            searched = pending.count
            try self.checkLimit(pending)
        }
        if !pending.isEmpty {
            try await body(pending)
        }
    }

    /// Reads what the input has next, up to 64 KiB, onto the end of `bytes`, reading again when a signal
    /// interrupts it; returns `false` at the end of the input.
    private func read(appendingTo bytes: inout [UInt8]) throws(PMemStreamError) -> Bool {
        let chunk = 1 << 16
        let count = bytes.count
        var failure: Int32?
        bytes.append(contentsOf: repeatElement(0, count: chunk))
        let read = bytes.withUnsafeMutableBytes { buffer in
            while true {
                let read = Glibc.read(self.descriptor, buffer.baseAddress! + count, chunk)
                guard read < 0, errno == EINTR else {
                    failure = read < 0 ? errno : nil
                    return max(read, 0)
                }
            }
        }
        bytes.removeLast(chunk - read)
        if let failure {
            throw PMemStreamError(errno: failure, path: self.name)
        }
        return read > 0
    }

    /// Throws ``PMemStreamError/Code/entryTooLarge`` when `entry`, read so far, is larger than ``limit``.
    private func checkLimit(_ entry: [UInt8]) throws(PMemStreamError) {
        guard entry.count > self.limit else { return }
        throw PMemStreamError(
            code: .entryTooLarge,
            message: "an entry from \(self.name) is larger than the \(self.limit) bytes left in the region"
        )
    }
}

extension PMemStreamError {
    /// The error for a file, or standard input, that the CLI could not open or read.
    init(errno: Int32, path: String) {
        self.init(
            code: .cannotOpenFile,
            message: "cannot read \(path): \(String(cString: strerror(errno)))",
            errno: errno
        )
    }
}
