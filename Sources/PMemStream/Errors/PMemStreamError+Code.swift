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
            case invalidBlockSize
            case mediumTooSmall
            case notAStream
            case damagedStream
            case unsupportedFormatVersion
            case blockSizeMismatch
            case sizeMismatch
            case invalidRegionSize
            case noSpaceForRegion
            case notARegion
            case regionFreed
            case streamClosed
            case entryTooLarge
            case invalidEntrySize
            case notAnEntry
            case corruptedEntry
            case timestampNotIssued
            case cancelled
            case regionInUse
            case streamInUse
            case readOnlyStream
            case outOfResources
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

        /// The block size is zero, not a power of two, or not a multiple of 64.
        public static let invalidBlockSize = Code(.invalidBlockSize)
        /// The medium cannot hold the stream header and one block.
        public static let mediumTooSmall = Code(.mediumTooSmall)
        /// The medium holds something other than a PMemStream stream; it was left untouched.
        public static let notAStream = Code(.notAStream)
        /// The medium holds a PMemStream stream whose header or region structure is damaged; it was left untouched.
        public static let damagedStream = Code(.damagedStream)
        /// The stream was written in a format version this build cannot read; it was left untouched.
        public static let unsupportedFormatVersion = Code(.unsupportedFormatVersion)
        /// The stream was created with another block size than the one asked for; it was left untouched.
        public static let blockSizeMismatch = Code(.blockSizeMismatch)
        /// The stream was created with another size than the one asked for; it was left untouched.
        public static let sizeMismatch = Code(.sizeMismatch)
        /// A region size of zero, of 2^62 or more, or one that overflows when rounded to blocks.
        public static let invalidRegionSize = Code(.invalidRegionSize)
        /// No free extent is large enough for the region asked for.
        public static let noSpaceForRegion = Code(.noSpaceForRegion)
        /// The offset or handle does not name a region of this stream.
        public static let notARegion = Code(.notARegion)
        /// The region was freed: it cannot be freed again, written or read.
        public static let regionFreed = Code(.regionFreed)
        /// The stream was closed.
        public static let streamClosed = Code(.streamClosed)

        /// The entry does not fit in the region's free space; no timestamp was consumed.
        public static let entryTooLarge = Code(.entryTooLarge)
        /// A reservation was published with a size larger than it reserved, or a size was negative.
        public static let invalidEntrySize = Code(.invalidEntrySize)
        /// The offset does not hold a committed entry of the region, or lies outside it.
        public static let notAnEntry = Code(.notAnEntry)
        /// An entry's checksum or size does not match its contents: the medium was damaged there. The entry's
        /// bytes are never returned.
        public static let corruptedEntry = Code(.corruptedEntry)
        /// A wait for a timestamp the stream has not handed out yet, which could never end.
        public static let timestampNotIssued = Code(.timestampNotIssued)
        /// The region is busy: it cannot be freed while appends, a reservation or another free in it are under
        /// way, nor written while a free of it is under way.
        public static let regionInUse = Code(.regionInUse)
        /// Another process has the stream open for writing; open it read-only to read it meanwhile.
        public static let streamInUse = Code(.streamInUse)
        /// The stream was opened read-only: it cannot be formatted, and regions cannot be allocated, freed or
        /// written.
        public static let readOnlyStream = Code(.readOnlyStream)
        /// The system refused something the stream needs besides memory and space: a thread for a persist
        /// worker (`EAGAIN`: a limit on processes, threads or address space); see ``PMemStreamError/errno``.
        public static let outOfResources = Code(.outOfResources)
        /// The task was cancelled while waiting.
        public static let cancelled = Code(.cancelled)

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
