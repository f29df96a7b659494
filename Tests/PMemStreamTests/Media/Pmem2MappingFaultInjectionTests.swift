#if ENABLE_MOCKING
    import Glibc
    @testable import PMemStream
    import PMemStreamTestKit
    import Testing

    @Suite("Pmem2Mapping under injected system failures")
    struct Pmem2MappingFaultInjectionTests {
        private func exists(_ path: String) -> Bool {
            access(path, F_OK) == 0
        }

        @Test("a full file system gives outOfSpace and leaves no half-made file behind")
        func outOfSpaceOnCreate() async {
            await withTemporaryDirectory { directory in
                let path = directory.path("log")
                let error = #expect(throws: PMemStreamError.self) {
                    try SystemCallMocking.withInjectedFailures([.fallocate: ENOSPC]) {
                        try Pmem2Mapping(path: path, size: 1 << 20)
                    }
                }
                #expect(error?.code == .outOfSpace)
                #expect(error?.errno == ENOSPC)
                #expect(!self.exists(path))
            }
        }

        @Test("an I/O error while opening gives ioError with errno EIO")
        func ioErrorOnOpen() async {
            await withTemporaryDirectory { directory in
                let error = #expect(throws: PMemStreamError.self) {
                    try SystemCallMocking.withInjectedFailures([.open: EIO]) {
                        try Pmem2Mapping(path: directory.path("log"), size: 1 << 20)
                    }
                }
                #expect(error?.code == .ioError)
                #expect(error?.errno == EIO)
            }
        }

        @Test("a failed mmap is mappingFailed with its errno, and the new file is removed")
        func mmapFailure() async {
            await withTemporaryDirectory { directory in
                let path = directory.path("log")
                let error = #expect(throws: PMemStreamError.self) {
                    try SystemCallMocking.withInjectedFailures([.mmap: ENOMEM]) {
                        try Pmem2Mapping(path: path, size: 1 << 20)
                    }
                }
                #expect(error?.code == .mappingFailed)
                #expect(error?.errno == ENOMEM)
                #expect(error?.message.contains("mmap") == true)
                #expect(!self.exists(path))
            }
        }

        @Test("a file made by another process after the open that found none and before the exclusive create is mapped")
        func fileCreatedMeanwhile() async throws {
            try await withTemporaryDirectory { directory in
                let path = directory.path("log")
                do {
                    let theirs = try Pmem2Mapping(path: path, size: 1 << 16)
                    theirs.storeWord(0x5EED, at: 4096)
                    try theirs.deepFlush(4096..<4104)
                }
                // The first open finds no file; the exclusive create then finds theirs.
                let ours = try SystemCallMocking.withInjectedFailures([.open: ENOENT], times: 1) {
                    try Pmem2Mapping(path: path, size: 1 << 16)
                }
                #expect(ours.size == 1 << 16)
                #expect(ours.loadWord(at: 4096) == 0x5EED, "their file, as they left it")
            }
        }

        @Test("a failed deep flush reports ioError")
        func deepFlushFailure() async throws {
            try await withTemporaryDirectory { directory in
                let medium = try Pmem2Mapping(path: directory.path("log"), size: 1 << 16)
                let error = #expect(throws: PMemStreamError.self) {
                    try SystemCallMocking.withInjectedFailures([.deepFlush: -EIO]) {
                        try medium.deepFlush(0..<4096)
                    }
                }
                #expect(error?.code == .ioError)
                #expect(error?.errno == EIO)
                try medium.deepFlush(0..<4096)
            }
        }

        @Test("a file open(path:size:) created is removed when the stream cannot be made on it; an older one stays")
        func failedFormatRemovesTheNewFile() async throws {
            try await withTemporaryDirectory { directory in
                let path = directory.path("log")
                let failing = SystemCallMocking(failures: [.deepFlush: -EIO])
                let code = await thrownErrorCode {
                    try await SystemCallMocking.$current.withValue(failing) {
                        try await PMemStream.open(path: path, size: 1 << 20)
                    }
                }
                #expect(code == .ioError, "formatting deep-flushes the new stream")
                #expect(!self.exists(path))

                try await PMemStream.open(path: path, size: 1 << 20).close()
                let reopening = await thrownErrorCode {
                    try await SystemCallMocking.$current.withValue(failing) {
                        try await PMemStream.open(path: path, size: 1 << 20).close()
                    }
                }
                #expect(reopening == .ioError, "recovery (on a page mapping) or close() deep-flushes the stream")
                #expect(self.exists(path), "a stream that existed before is never removed")
            }
        }

        @Test("a created file is removed only while the path still names it")
        func removesOnlyItsOwnFile() async throws {
            try await withTemporaryDirectory { directory in
                let path = directory.path("log")
                let created = try Pmem2Mapping(path: path, size: 1 << 20)
                try created.beginWriting()
                created.endWriting()
                #expect(unlink(path) == 0)
                let other = try await PMemStream.open(path: path, size: 1 << 20)  // another file at the path
                created.removeCreatedFile()
                #expect(self.exists(path), "another writer's file was removed")
                try await other.close()
            }
        }
    }
#endif
