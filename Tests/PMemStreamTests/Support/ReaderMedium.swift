@testable import PMemStream

/// A medium that stands for a reader's view of another process's memory: every write stops the test.
protocol ReaderMedium: PersistentMedium {}

extension ReaderMedium {
    func persist(_ range: Range<Int>) { preconditionFailure("a reader writes nothing") }
    func flush(_ range: Range<Int>) { preconditionFailure("a reader writes nothing") }
    func drain() { preconditionFailure("a reader writes nothing") }
    func copy(toOffset offset: Int, from source: UnsafeRawBufferPointer, flags: MemoryCopyFlags) {
        preconditionFailure("a reader writes nothing")
    }
    func fill(_ range: Range<Int>, with value: UInt8, flags: MemoryCopyFlags) {
        preconditionFailure("a reader writes nothing")
    }
    func deepFlush(_ range: Range<Int>) throws(PMemStreamError) { preconditionFailure("a reader writes nothing") }
}
