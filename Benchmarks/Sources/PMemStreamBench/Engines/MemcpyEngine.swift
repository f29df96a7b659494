import CPMem2Bench
import Glibc

/// `memcpy`: plain `memcpy` of the same bytes the iterate engine reads, out of a prefaulted mapping laid
/// out like a region (entries of `24 + size` bytes rounded up to 8), into a buffer the thread reuses.
///
/// It is the bandwidth `pmemstream-iterate` is compared with. Each thread copies its own part.
struct MemcpyEngine: Engine {
    func prepare(_ workload: Workload) async throws -> any PreparedRun {
        try ScratchFile.remove(workload.path)
        let perThread = workload.count * workload.entryFootprint
        let file = try Pmem2File(creating: workload.path, size: workload.threads * perThread + 4096, prefault: true)
        for index in 0..<workload.count * workload.threads {
            let offset = index * workload.entryFootprint + Workload.entryHeaderSize
            workload.payload.entry(index % workload.count).withUnsafeBytes {
                _ = file.memcpy(file.base + offset, $0.baseAddress, $0.count, UInt32(PMEM2_F_MEM_NODRAIN))
            }
        }
        file.drain()
        let buffers = (0..<workload.threads).map { _ in
            UnsafeMutableRawBufferPointer.allocate(byteCount: max(workload.entrySize, 1), alignment: 64)
        }
        return Run(file: file, workload: workload, buffers: Buffers(buffers))
    }

    /// The threads' destination buffers.
    ///
    /// - Important: `@unchecked Sendable`: each thread writes only its own buffer.
    final class Buffers: @unchecked Sendable {
        let buffers: [UnsafeMutableRawBufferPointer]

        init(_ buffers: [UnsafeMutableRawBufferPointer]) {
            self.buffers = buffers
        }

        deinit {
            for buffer in self.buffers {
                buffer.deallocate()
            }
        }
    }

    private struct Run: PreparedRun {
        let file: Pmem2File
        let workload: Workload
        let buffers: Buffers

        func perform(thread: Int) async throws {
            let destination = self.buffers.buffers[thread].baseAddress!
            let first = thread * self.workload.count * self.workload.entryFootprint + Workload.entryHeaderSize
            let touched = Self.copyLoop(
                from: self.file.base + first,
                to: destination,
                count: self.workload.count,
                size: self.workload.entrySize,
                stride: self.workload.entryFootprint
            )
            Sink.consume(touched)
        }

        /// The timed loop. It reads one byte of each copy back, so that no copy is a dead store to optimise away.
        private static func copyLoop(
            from source: UnsafeMutableRawPointer,
            to destination: UnsafeMutableRawPointer,
            count: Int,
            size: Int,
            stride: Int
        ) -> UInt8 {
            var source = source
            var touched: UInt8 = 0
            for _ in 0..<count {
                Glibc.memcpy(destination, source, size)
                touched &+= destination.load(fromByteOffset: max(size - 1, 0), as: UInt8.self)
                source += stride
            }
            return touched
        }

        func finish() async throws {
            try self.file.remove()
        }
    }
}
