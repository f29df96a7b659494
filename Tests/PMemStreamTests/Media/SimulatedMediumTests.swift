import PMemStream
import Testing

@testable import PMemStreamTestKit

@Suite("SimulatedMedium power-failure model")
struct SimulatedMediumTests {
    private func word(_ image: [UInt8], at offset: Int) -> UInt64 {
        image[offset..<offset + 8].withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
    }

    private func store(_ value: UInt64, at offset: Int, in medium: SimulatedMedium) {
        medium.baseAddress.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt64.self)
    }

    @Test("a store that was never flushed is lost when only drained data survives")
    func unflushedStoreIsLost() {
        let medium = SimulatedMedium(size: 4096)
        self.store(7, at: 0, in: medium)
        #expect(self.word(medium.crash(.drainedOnly), at: 0) == 0)
        #expect(self.word(medium.crash(.everythingWritten), at: 0) == 7)
    }

    @Test("a flushed store is lost until a drain follows, and survives every crash mode after it")
    func flushedStoreNeedsDrain() {
        let medium = SimulatedMedium(size: 4096)
        self.store(7, at: 128, in: medium)
        medium.flush(128..<136)
        #expect(self.word(medium.crash(.drainedOnly), at: 128) == 0)
        medium.drain()
        for mode in [CrashMode.drainedOnly, .everythingWritten, .randomLines(seed: 1), .tornWords(seed: 2)] {
            #expect(self.word(medium.crash(mode), at: 128) == 7, "mode \(mode)")
        }
    }

    @Test("a drain makes durable what the flush saw, not stores made after the flush")
    func drainWritesBackFlushedContent() {
        let medium = SimulatedMedium(size: 4096)
        self.store(1, at: 0, in: medium)
        medium.flush(0..<8)
        self.store(2, at: 0, in: medium)
        medium.drain()
        #expect(self.word(medium.crash(.drainedOnly), at: 0) == 1)
        #expect(self.word(medium.crash(.everythingWritten), at: 0) == 2)
    }

    @Test("random-line mode keeps each undrained line whole, old or new, and uses both over seeds")
    func randomLinesKeepLinesWhole() {
        var sawOld = false
        var sawNew = false
        for seed in 0..<32 as Range<UInt64> {
            let medium = SimulatedMedium(size: 4096)
            for word in 0..<8 {
                self.store(UInt64(word + 1), at: word * 8, in: medium)
            }
            let image = medium.crash(.randomLines(seed: seed))
            let words = (0..<8).map { self.word(image, at: $0 * 8) }
            #expect(words == [0, 0, 0, 0, 0, 0, 0, 0] || words == [1, 2, 3, 4, 5, 6, 7, 8])
            sawOld = sawOld || words[0] == 0
            sawNew = sawNew || words[0] == 1
        }
        #expect(sawOld && sawNew)
    }

    @Test("torn mode splits undrained lines at 8-byte words and never splits a word")
    func tornModeNeverSplitsWords() {
        var sawTornLine = false
        for seed in 0..<32 as Range<UInt64> {
            let medium = SimulatedMedium(size: 4096)
            for word in 0..<8 {
                self.store(UInt64.max - UInt64(word), at: word * 8, in: medium)
            }
            let image = medium.crash(.tornWords(seed: seed))
            let words = (0..<8).map { self.word(image, at: $0 * 8) }
            for (index, value) in words.enumerated() {
                #expect(value == 0 || value == UInt64.max - UInt64(index), "seed \(seed) word \(index) is split")
            }
            sawTornLine = sawTornLine || (words.contains(0) && words.contains { $0 != 0 })
        }
        #expect(sawTornLine)
    }

    @Test("the same seed gives the same crash image")
    func crashImagesReplay() {
        let medium = SimulatedMedium(size: 4096)
        for word in 0..<512 {
            self.store(UInt64(word + 1), at: word * 8, in: medium)
        }
        #expect(medium.crash(.tornWords(seed: 99)) == medium.crash(.tornWords(seed: 99)))
        #expect(medium.crash(.tornWords(seed: 99)) != medium.crash(.tornWords(seed: 100)))
    }

    @Test("every drain is one persist point, and copies count theirs")
    func persistPointsAreCounted() {
        let medium = SimulatedMedium(size: 4096)
        #expect(medium.persistPointCount == 0)
        medium.drain()
        medium.persist(0..<8)
        #expect(medium.persistPointCount == 2)
        let bytes: [UInt8] = [1, 2, 3]
        bytes.withUnsafeBytes { source in
            medium.copy(toOffset: 0, from: source, flags: .persist)
            medium.copy(toOffset: 0, from: source, flags: .noDrain)
            medium.copy(toOffset: 0, from: source, flags: .noFlush)
        }
        medium.fill(0..<8, with: 1, flags: .persist)
        #expect(medium.persistPointCount == 4)
    }

    @Test("cutting power at persist point k keeps exactly what the first k-1 drains made durable")
    func cutAtEveryPersistPoint() {
        let writes = 10
        for point in 1...writes {
            let medium = SimulatedMedium(size: 4096)
            medium.cutPower(atPersistPoint: point)
            for index in 0..<writes {
                self.store(UInt64(index + 1), at: index * 64, in: medium)
                medium.persist(index * 64..<index * 64 + 8)
            }
            #expect(medium.isPowerCut)
            #expect(medium.persistPointCount == writes)
            let image = medium.crash(.drainedOnly)
            for index in 0..<writes {
                #expect(
                    self.word(image, at: index * 64) == (index < point - 1 ? UInt64(index + 1) : 0),
                    "cut at \(point)"
                )
            }
            // At the cut, the store being drained may or may not have reached the medium; later ones too.
            let written = medium.crash(.everythingWritten)
            #expect(self.word(written, at: (point - 1) * 64) == UInt64(point))
        }
    }

    @Test("a restarted medium holds the crash image durably")
    func restartFromImage() {
        let medium = SimulatedMedium(size: 4096)
        self.store(5, at: 8, in: medium)
        medium.persist(8..<16)
        let restarted = SimulatedMedium(image: medium.crash())
        #expect(restarted.baseAddress.load(fromByteOffset: 8, as: UInt64.self) == UInt64(5).littleEndian)
        #expect(self.word(restarted.crash(.drainedOnly), at: 8) == 5)
        #expect(restarted.persistPointCount == 0)
    }

    @Test(
        "injected failures make the next deep flushes throw, once each",
        arguments: [InjectedFailure.outOfSpace, .ioError]
    )
    func injectedFailures(failure: InjectedFailure) throws {
        let medium = SimulatedMedium(size: 4096)
        medium.injectFailure(failure)
        #expect(throws: failure.error) { try medium.deepFlush(0..<64) }
        try medium.deepFlush(0..<64)
    }

    @Test("crash enumeration cuts power at every point, or at an even, fixed sample of at most the limit")
    func persistPointSampling() async throws {
        #expect(sampledPersistPoints(count: 3, limit: 10) == [1, 2, 3, 4])
        #expect(sampledPersistPoints(count: 9, limit: 4) == [1, 4, 7, 10])
        #expect(sampledPersistPoints(count: 1000, limit: 5) == [1, 251, 501, 751, 1001])

        let blank = [UInt8](repeating: 0, count: 64 * 1024)
        var points: [Int] = []
        let checked = try await forEachCrashState(startingFrom: blank, modes: [.drainedOnly], maxPersistPoints: 3) {
            medium in
            for offset in stride(from: 0, to: 640, by: 64) {
                medium.fill(offset..<offset + 64, with: 1, flags: .persist)
            }
        } check: { state in
            points.append(state.persistPoint)
        }
        #expect(checked == 3)
        #expect(points == [1, 6, 11])
    }
}
