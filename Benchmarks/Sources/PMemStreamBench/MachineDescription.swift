import Glibc

/// The machine and set-up a session ran on, printed above its tables.
struct MachineDescription: Encodable, Sendable {
    /// The CPU model, from `/proc/cpuinfo`.
    let cpu: String
    /// The CPU's family and model numbers and the instruction-set extensions that decide how fast PMemStream
    /// writes and checksums (see ``InstructionSets``), from `/proc/cpuinfo`: one model name covers CPU
    /// generations whose figures differ by up to 2×.
    let cpuDetails: String
    /// The online cores.
    let cores: Int
    /// The distribution, from `/etc/os-release`.
    let system: String
    /// The kernel release.
    let kernel: String
    /// When the session started (UTC).
    let date: String
    /// `release`, or `debug` (whose figures mean nothing).
    let build: String
    /// The persistence variables of the environment.
    let environment: String
    /// The store granularity libpmem2 chose for a file at the benchmark's path.
    let pmem2Granularity: String

    /// Describes this machine; maps a small probe file next to `path` to learn the granularity.
    static func current(path: String) -> MachineDescription {
        var names = utsname()
        uname(&names)
        let kernel = withUnsafeBytes(of: &names.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let cpu = Self.field("model name", in: "/proc/cpuinfo", separator: ":") ?? "unknown CPU"
        let family = Self.field("cpu family", in: "/proc/cpuinfo", separator: ":") ?? "?"
        let model = Self.field("model", in: "/proc/cpuinfo", separator: ":") ?? "?"
        let flags = Self.field("flags", in: "/proc/cpuinfo", separator: ":") ?? ""
        let system = Self.field("PRETTY_NAME", in: "/etc/os-release", separator: "=") ?? "unknown system"
        #if DEBUG
            let build = "debug"
        #else
            let build = "release"
        #endif
        return MachineDescription(
            cpu: cpu,
            cpuDetails: "family \(family), model \(model); \(InstructionSets(flags: flags))",
            cores: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))),
            system: system.trimmingQuotes,
            kernel: kernel,
            date: Self.utcNow(),
            build: build,
            environment: GranularityMode.environmentSummary,
            pmem2Granularity: Self.probeGranularity(near: path)
        )
    }

    /// The value of the first line of `file` whose name, before `separator`, is `key`.
    private static func field(_ key: String, in file: String, separator: Character) -> String? {
        guard let handle = fopen(file, "r") else { return nil }
        defer { fclose(handle) }
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, handle) > 0, let line {
            let text = String(cString: line)
            guard let split = text.firstIndex(of: separator),
                text[..<split].trimmingTrailingWhitespace == key
            else { continue }
            return String(text[text.index(after: split)...].drop { $0 == " " || $0 == "\t" }.prefix { $0 != "\n" })
        }
        return nil
    }

    /// The current time as `YYYY-MM-DD HH:MM UTC`.
    private static func utcNow() -> String {
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%d %H:%M UTC", &parts)
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The one-page file next to `path` that ``current(path:)`` maps and deletes.
    static func probePath(near path: String) -> String {
        path + ".probe"
    }

    /// Maps a one-page file next to `path` through libpmem2 and reports the granularity it got.
    private static func probeGranularity(near path: String) -> String {
        let probe = Self.probePath(near: path)
        try? ScratchFile.remove(probe)
        guard let file = try? Pmem2File(creating: probe, size: 4096, prefault: false) else { return "unknown" }
        defer { try? file.remove() }
        return file.granularityName
    }
}

/// The instruction-set extensions that PMemStream's write path and ISA-L's CRC32C choose their code by, as
/// `/proc/cpuinfo` lists them: AVX (32-byte non-temporal stores), CLWB, VPCLMULQDQ with AVX-512 (ISA-L's
/// widest checksum kernel; without AVX-512 it checksums with the `crc32` instruction).
struct InstructionSets: CustomStringConvertible {
    /// The extensions reported, by their `/proc/cpuinfo` names, and how they are printed.
    private static let reported: [(flag: String, name: String)] = [
        ("avx", "AVX"), ("avx512f", "AVX-512"), ("vpclmulqdq", "VPCLMULQDQ"), ("clwb", "CLWB"),
    ]

    /// The reported extensions the CPU has, then those it lacks.
    let description: String

    /// Reads the `flags` line of `/proc/cpuinfo` (its value: names separated by spaces).
    init(flags: String) {
        let present = Set(flags.split(separator: " ").map(String.init))
        let has = Self.reported.filter { present.contains($0.flag) }.map(\.name)
        let lacks = Self.reported.filter { !present.contains($0.flag) }.map { "no \($0.name)" }
        self.description = (has + lacks).joined(separator: ", ")
    }
}

extension Substring {
    /// The substring without the spaces and tabs at its end.
    fileprivate var trimmingTrailingWhitespace: Substring {
        var trimmed = self
        while trimmed.last == " " || trimmed.last == "\t" {
            trimmed.removeLast()
        }
        return trimmed
    }
}

extension String {
    /// The string without surrounding double quotes.
    fileprivate var trimmingQuotes: String {
        self.hasPrefix("\"") && self.hasSuffix("\"") && self.count >= 2 ? String(self.dropFirst().dropLast()) : self
    }
}
