public import PMemStream

#if os(Linux)
    import Glibc
#endif

/// Persistent memory simulated in DRAM, with an exact model of a power failure.
///
/// The program sees one buffer (``baseAddress``): the CPU's view, where every store lands at once, as in a
/// cache. Beside it the simulator keeps the *durable image*: what the medium would hold after a power
/// failure. A ``flush(_:)`` records the current content of every 64-byte line it covers; a ``drain()``
/// writes the recorded lines into the durable image. Each drain is one *persist point*.
///
/// ``crash(_:)`` returns the image a power failure would leave now: every line that matches the durable
/// image is kept, and every line that was written but not drained holds its old or its new content, as
/// the ``CrashMode`` decides, line by line or (torn) 8 bytes at a time. An aligned 8-byte store is never
/// split.
///
/// To cut power in the middle of a workload, call ``cutPower(atPersistPoint:)`` first: when the workload
/// reaches that drain, the simulator freezes the durable image as it was just before it, and later
/// flushes and drains change nothing. Counting the persist points of a run (``persistPointCount``) and
/// repeating it once for every point is how the crash tests enumerate every crash state.
///
/// ```swift
/// let medium = SimulatedMedium(size: 1 << 16)
/// medium.cutPower(atPersistPoint: 3)
/// try await runWorkload(on: medium)
/// let restarted = SimulatedMedium(image: medium.crash(.tornWords(seed: 7)))
/// ```
public final class SimulatedMedium: PersistentMedium, @unchecked Sendable {
    /// The size of the lines a flush writes back, in bytes.
    public static let lineSize = 64

    /// The address of byte 0 of the program's view.
    public let baseAddress: UnsafeMutableRawPointer
    /// The number of bytes the medium holds.
    public let size: Int
    /// The NUMA node the simulated memory claims to belong to.
    public let numaNode: Int?
    /// Always ``StoreGranularity/cacheLine``: stores must be flushed and drained to be durable.
    public var granularity: StoreGranularity { .cacheLine }

    private let state: Lock<State>

    /// Creates a zero-filled medium, as a new file would be.
    ///
    /// - Parameters:
    ///   - size: The number of bytes, at least one; it is rounded up to a whole number of lines.
    ///   - numaNode: The NUMA node to report.
    public convenience init(size: Int, numaNode: Int? = nil) {
        self.init(image: [UInt8](repeating: 0, count: size), numaNode: numaNode)
    }

    /// Creates a medium that holds `image`, durably, as after a restart.
    ///
    /// - Parameters:
    ///   - image: The bytes, typically returned by ``crash(_:)``.
    ///   - numaNode: The NUMA node to report.
    public init(image: [UInt8], numaNode: Int? = nil) {
        precondition(!image.isEmpty, "a simulated medium needs at least one byte")
        let lineSize = Self.lineSize
        let size = (image.count + lineSize - 1) / lineSize * lineSize
        var durable = image
        durable.append(contentsOf: repeatElement(0, count: size - image.count))
        let programView = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
        durable.withUnsafeBytes { bytes in
            programView.copyMemory(from: bytes.baseAddress!, byteCount: size)
        }
        self.baseAddress = programView
        self.size = size
        self.numaNode = numaNode
        self.state = Lock(State(durable: durable))
    }

    deinit {
        self.baseAddress.deallocate()
    }

    // MARK: - PersistentMedium

    public func persist(_ range: Range<Int>) {
        self.flush(range)
        self.drain()
    }

    public func flush(_ range: Range<Int>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= self.size, "flush \(range) outside the medium")
        guard !range.isEmpty else { return }
        let lines = (range.lowerBound / Self.lineSize)...((range.upperBound - 1) / Self.lineSize)
        self.state.withLock { state in
            guard state.frozen == nil else { return }
            for line in lines {
                let start = line * Self.lineSize
                state.flushedLines[line] = Array(
                    UnsafeRawBufferPointer(start: self.baseAddress + start, count: Self.lineSize)
                )
            }
        }
    }

    public func drain() {
        self.state.withLock { state in
            state.persistPoints += 1
            guard state.frozen == nil else { return }
            if state.persistPoints == state.powerCutPoint {
                state.frozen = Snapshot(programView: self.programView(), durable: state.durable)
                return
            }
            state.durable.withUnsafeMutableBytes { durable in
                for (line, content) in state.flushedLines {
                    UnsafeMutableRawBufferPointer(rebasing: durable[line * Self.lineSize..<(line + 1) * Self.lineSize])
                        .copyBytes(from: content)
                }
            }
            state.flushedLines.removeAll(keepingCapacity: true)
        }
    }

    public func copy(toOffset offset: Int, from source: UnsafeRawBufferPointer, flags: MemoryCopyFlags) {
        precondition(offset >= 0 && offset + source.count <= self.size, "copy to \(offset) outside the medium")
        if let base = source.baseAddress {
            (self.baseAddress + offset).copyMemory(from: base, byteCount: source.count)
        }
        self.completeStore(offset..<offset + source.count, flags: flags)
    }

    public func fill(_ range: Range<Int>, with value: UInt8, flags: MemoryCopyFlags) {
        precondition(range.lowerBound >= 0 && range.upperBound <= self.size, "fill \(range) outside the medium")
        (self.baseAddress + range.lowerBound).initializeMemory(as: UInt8.self, repeating: value, count: range.count)
        self.completeStore(range, flags: flags)
    }

    public func deepFlush(_ range: Range<Int>) throws(PMemStreamError) {
        let failure = self.state.withLock { state in
            state.injectedFailures.isEmpty ? nil : state.injectedFailures.removeFirst()
        }
        if let failure {
            throw failure.error
        }
        self.persist(range)
    }

    // MARK: - Power failure

    /// The number of drains so far: the persist points the program has passed or reached.
    public var persistPointCount: Int {
        self.state.withLock { $0.persistPoints }
    }

    /// Whether power was cut: the persist point given to ``cutPower(atPersistPoint:)`` has been reached.
    public var isPowerCut: Bool {
        self.state.withLock { $0.frozen != nil }
    }

    /// Cuts power when the program reaches a persist point.
    ///
    /// When the `point`-th drain (counting from 1 over the medium's life) is issued, the durable image
    /// is frozen as it stood just before that drain. The program keeps running against its view, but no
    /// later flush or drain reaches the durable image; ``crash(_:)`` then describes the medium at the cut.
    ///
    /// - Parameter point: The persist point at which power fails; it must be later than the points passed.
    public func cutPower(atPersistPoint point: Int) {
        self.state.withLock { state in
            precondition(point > state.persistPoints, "persist point \(point) has already passed")
            state.powerCutPoint = point
        }
    }

    /// The image a power failure leaves: at the cut if power was cut, otherwise now.
    ///
    /// - Parameter mode: What becomes of lines that were written but not drained.
    /// - Returns: The medium's bytes after the failure; pass them to ``init(image:numaNode:)`` to restart.
    public func crash(_ mode: CrashMode = .drainedOnly) -> [UInt8] {
        let snapshot = self.state.withLock { state in
            state.frozen ?? Snapshot(programView: self.programView(), durable: state.durable)
        }
        return snapshot.image(after: mode, lineSize: Self.lineSize)
    }

    /// The medium the next process finds when this one is killed: at the cut if power was cut (the kill comes
    /// just before that drain), otherwise now.
    ///
    /// The power stays on, so everything the program stored is what the next process sees, as in the CPU
    /// caches or the page cache, while only what was drained is durable. The returned medium's
    /// ``crash(_:)`` treats the difference as lines written but not drained: a later power failure may or
    /// may not have written them back.
    public func killed() -> SimulatedMedium {
        let snapshot = self.state.withLock { state in
            state.frozen ?? Snapshot(programView: self.programView(), durable: state.durable)
        }
        let medium = SimulatedMedium(image: snapshot.durable, numaNode: self.numaNode)
        snapshot.programView.withUnsafeBytes {
            medium.baseAddress.copyMemory(from: $0.baseAddress!, byteCount: $0.count)
        }
        return medium
    }

    /// Makes the next calls of ``deepFlush(_:)`` fail, one call for each time this is called.
    ///
    /// - Parameter failure: The failure to report.
    public func injectFailure(_ failure: InjectedFailure) {
        self.state.withLock { $0.injectedFailures.append(failure) }
    }

    // MARK: - Private

    private func completeStore(_ range: Range<Int>, flags: MemoryCopyFlags) {
        guard !flags.contains(.noFlush) else { return }
        self.flush(range)
        if !flags.contains(.noDrain) {
            self.drain()
        }
    }

    private func programView() -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: self.baseAddress, count: self.size))
    }
}

// MARK: - State

extension SimulatedMedium {
    private struct State {
        var durable: [UInt8]
        var flushedLines: [Int: [UInt8]] = [:]
        var persistPoints = 0
        var powerCutPoint: Int?
        var frozen: Snapshot?
        var injectedFailures: [InjectedFailure] = []
    }

    /// The program's view and the durable image at one moment.
    private struct Snapshot {
        var programView: [UInt8]
        var durable: [UInt8]

        /// The durable image with the lines that differ from the program's view written back as `mode` says.
        ///
        /// Through raw bytes: generic slice comparisons, once per line of the whole medium, made each crash
        /// image of a large medium take seconds in debug builds, and minutes under ThreadSanitizer.
        func image(after mode: CrashMode, lineSize: Int) -> [UInt8] {
            var image = self.durable
            var generator = SeededRandomNumberGenerator(seed: mode.seed)
            self.programView.withUnsafeBytes { view in
                self.durable.withUnsafeBytes { durable in
                    image.withUnsafeMutableBytes { image in
                        /// Writes the program's bytes in `range` back into the image.
                        func writeBack(_ range: Range<Int>) {
                            UnsafeMutableRawBufferPointer(rebasing: image[range])
                                .copyMemory(from: UnsafeRawBufferPointer(rebasing: view[range]))
                        }
                        for lineStart in stride(from: 0, to: image.count, by: lineSize) {
                            let line = lineStart..<lineStart + lineSize
                            guard memcmp(view.baseAddress! + lineStart, durable.baseAddress! + lineStart, lineSize) != 0
                            else { continue }
                            switch mode.kind {
                            case .drainedOnly:
                                break
                            case .everythingWritten:
                                writeBack(line)
                            case .randomLines:
                                if Bool.random(using: &generator) {
                                    writeBack(line)
                                }
                            case .tornWords:
                                for word in stride(from: lineStart, to: line.upperBound, by: 8)
                                where Bool.random(using: &generator) {
                                    writeBack(word..<word + 8)
                                }
                            }
                        }
                    }
                }
            }
            return image
        }
    }
}
