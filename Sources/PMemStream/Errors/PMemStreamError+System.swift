#if os(Linux)
    @preconcurrency import Glibc
    import CPMem2

    // MARK: - Errors from system calls and libpmem2

    extension PMemStreamError {
        /// The error for a failed system call: maps `errno` to a ``Code`` in one place.
        ///
        /// - Parameters:
        ///   - errno: The `errno` value the call left.
        ///   - operation: What PMemStream was doing, e.g. `"open /tmp/log"`.
        ///   - location: Where the call was made.
        init(errno: Int32, operation: String, location: SourceLocation) {
            let code: Code =
                switch errno {
                case ENOENT: .fileNotFound
                case EACCES, EPERM, EROFS: .permissionDenied
                case ENOSPC, EDQUOT, EFBIG: .outOfSpace
                case EIO: .ioError
                default: .cannotOpenFile
                }
            let reason = String(cString: strerror(errno))
            self.init(code: code, message: "\(operation): \(reason)", errno: errno, location: location)
        }

        /// The error for a failed libpmem2 call, carrying `pmem2_errormsg()`.
        ///
        /// - Parameters:
        ///   - pmem2Status: The negative value the call returned: `-errno` or a `PMEM2_E_*` constant.
        ///   - operation: What PMemStream was doing, e.g. `"pmem2_deep_flush of 4096 bytes"`.
        ///   - detail: The text libpmem2 gave (`pmem2_errormsg()`), or the reason when the failure was injected.
        ///   - location: Where the call was made.
        init(pmem2Status: Int32, operation: String, detail: String, location: SourceLocation) {
            // libpmem2 returns either a negated errno or one of its own PMEM2_E_* codes (all below -100000).
            let errno = pmem2Status < 0 && pmem2Status > PMEM2_E_UNKNOWN ? -pmem2Status : nil
            let code: Code =
                switch pmem2Status {
                case -ENOSPC: .outOfSpace
                case -EIO, PMEM2_E_IO_FAIL: .ioError
                case -ENOENT: .fileNotFound
                case -EACCES, -EPERM, PMEM2_E_NO_ACCESS: .permissionDenied
                default: .mappingFailed
                }
            self.init(
                code: code,
                message: "\(operation): \(detail)",
                errno: errno,
                pmem2Status: pmem2Status,
                location: location
            )
        }
    }
#endif
