import ArgumentParser

/// A size in bytes on the command line: `4096`, `4K`, `64KiB` or `1M`.
struct ByteCount: ExpressibleByArgument, Hashable, Sendable, CustomStringConvertible {
    /// The number of bytes.
    let value: Int

    /// A size of `value` bytes.
    init(_ value: Int) {
        self.value = value
    }

    /// Parses a number with an optional binary suffix (K, KiB, M, MiB, G, GiB).
    init?(argument: String) {
        let units: [(suffix: String, shift: Int)] = [
            ("KiB", 10), ("MiB", 20), ("GiB", 30), ("K", 10), ("M", 20), ("G", 30), ("B", 0), ("", 0),
        ]
        for unit in units where argument.hasSuffix(unit.suffix) {
            guard let number = Int(argument.dropLast(unit.suffix.count)), number >= 0 else { continue }
            let (value, overflow) = number.multipliedReportingOverflow(by: 1 << unit.shift)
            guard !overflow else { return nil }
            self.value = value
            return
        }
        return nil
    }

    /// `8 B`, `4 KiB`, `64 KiB`: whole binary units when the size has them.
    var description: String {
        if self.value >= 1 << 20, self.value % (1 << 20) == 0 { return "\(self.value >> 20) MiB" }
        if self.value >= 1 << 10, self.value % (1 << 10) == 0 { return "\(self.value >> 10) KiB" }
        return "\(self.value) B"
    }

    /// The size as it is written on the command line.
    var defaultValueDescription: String {
        "\(self.value)"
    }
}
