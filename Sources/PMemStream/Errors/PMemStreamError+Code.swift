extension PMemStreamError {
    /// The kind of a ``PMemStreamError``.
    ///
    /// Codes are an open set: new ones may be added in later versions, so a `switch` over them needs a
    /// `default` case. Use them directly as `catch` patterns:
    ///
    /// ```swift
    /// do { … } catch PMemStreamError.Code.ioError { … }
    /// ```
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: String, Hashable, Sendable {
            case invalidArgument
            case fileNotFound
            case permissionDenied
            case cannotOpenFile
            case outOfSpace
            case ioError
            case mappingFailed
            case invalidMediumSize
        }

        private let wrapped: Wrapped

        private init(_ wrapped: Wrapped) {
            self.wrapped = wrapped
        }

        /// The name of the code, as written in Swift.
        public var description: String {
            self.wrapped.rawValue
        }

        /// An argument is out of its documented range.
        public static let invalidArgument = Code(.invalidArgument)
        /// The file or device does not exist, and nothing asked to create it.
        public static let fileNotFound = Code(.fileNotFound)
        /// The process may not open or map the file (`EACCES`, `EPERM`).
        public static let permissionDenied = Code(.permissionDenied)
        /// The file or device could not be opened or inspected for another reason; see ``PMemStreamError/errno``.
        public static let cannotOpenFile = Code(.cannotOpenFile)
        /// The file system or the medium has no room for what was asked (`ENOSPC`).
        public static let outOfSpace = Code(.outOfSpace)
        /// The medium reported an input/output error (`EIO`); data in the affected range may be lost.
        public static let ioError = Code(.ioError)
        /// libpmem2 refused to map the file; see ``PMemStreamError/pmem2Status`` and the message.
        public static let mappingFailed = Code(.mappingFailed)
        /// The file's size does not suit the request: an existing file of another size, or a size of zero.
        public static let invalidMediumSize = Code(.invalidMediumSize)

        /// Matches an error against a code in a `catch` or `case` pattern.
        ///
        /// - Parameters:
        ///   - pattern: The code to look for.
        ///   - error: The error thrown.
        /// - Returns: `true` when `error` is a ``PMemStreamError`` with this code.
        public static func ~= (pattern: Code, error: any Error) -> Bool {
            (error as? PMemStreamError)?.code == pattern
        }
    }
}
