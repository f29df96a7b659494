#if os(Linux)
    import Glibc
#endif

/// A file descriptor to write text to, without Foundation.
struct FileStream {
    let descriptor: Int32

    static let standardError = FileStream(descriptor: 2)

    /// Writes all of `string`, writing again when a signal interrupts it. It stops at the first failure,
    /// which it ignores: standard error is where failures are reported, so there is nowhere left to report it.
    func write(_ string: String) {
        var string = string
        string.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(self.descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written > 0 {
                    offset += written
                } else if written == 0 || errno != EINTR {
                    return
                }
            }
        }
    }
}
