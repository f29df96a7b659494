/// An error thrown by PMemStream.
///
/// Every failure the library reports is a ``PMemStreamError``. Match on its ``code`` to react to a
/// particular kind of failure; the ``message`` says what happened in words, and ``errno`` or
/// ``pmem2Status`` carry the operating system's or libpmem2's own code when one was involved.
///
/// ```swift
/// do {
///     let medium = try Pmem2Mapping(path: "/mnt/pmem0/log", size: 1 << 30)
/// } catch PMemStreamError.Code.outOfSpace {
///     print("the file system is full")
/// }
/// ```
///
/// - Important: An operation that throws leaves the stream as it was before the call.
public struct PMemStreamError: Error, Hashable, Sendable {
    /// What kind of failure this is.
    public var code: Code
    /// A sentence that explains the failure, meant for people.
    public var message: String
    /// The `errno` value behind the failure, when a system call or libpmem2 reported one.
    public var errno: Int32?
    /// The raw libpmem2 return value (a negative errno or a `PMEM2_E_*` constant), when libpmem2 failed.
    public var pmem2Status: Int32?
    /// Where in PMemStream the error was raised.
    public var location: SourceLocation

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - code: The kind of failure.
    ///   - message: A sentence that explains the failure.
    ///   - errno: The `errno` value behind the failure, if any.
    ///   - pmem2Status: The libpmem2 return value behind the failure, if any.
    ///   - location: Where the error was raised; defaults to the caller's location.
    public init(
        code: Code,
        message: String,
        errno: Int32? = nil,
        pmem2Status: Int32? = nil,
        location: SourceLocation = SourceLocation(fileID: #fileID, line: #line)
    ) {
        self.code = code
        self.message = message
        self.errno = errno
        self.pmem2Status = pmem2Status
        self.location = location
    }

    /// A multi-line description with the code, the message, the underlying codes and the source location.
    ///
    /// - Returns: The description, one fact per line.
    public func detailedDescription() -> String {
        var lines = ["PMemStreamError.\(self.code): \(self.message)"]
        if let errno = self.errno {
            lines.append("  errno: \(errno)")
        }
        if let status = self.pmem2Status {
            lines.append("  pmem2 status: \(status)")
        }
        lines.append("  raised at: \(self.location)")
        return lines.joined(separator: "\n")
    }
}

extension PMemStreamError: CustomStringConvertible {
    /// The code and the message on one line.
    public var description: String {
        "\(self.code): \(self.message)"
    }
}

// MARK: - Source location

extension PMemStreamError {
    /// A place in PMemStream's source code.
    public struct SourceLocation: Hashable, Sendable, CustomStringConvertible {
        /// The file, as `Module/File.swift`.
        public var fileID: String
        /// The line in that file.
        public var line: Int

        /// Creates a source location.
        ///
        /// - Parameters:
        ///   - fileID: The file, as `#fileID` spells it.
        ///   - line: The line in that file.
        public init(fileID: String, line: Int) {
            self.fileID = fileID
            self.line = line
        }

        /// The location as `file:line`.
        public var description: String {
            "\(self.fileID):\(self.line)"
        }
    }
}
