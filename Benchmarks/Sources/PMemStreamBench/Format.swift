/// How numbers read in the tables.
enum Format {
    /// A ratio with two decimals: `0.83×`.
    static func ratio(_ value: Double) -> String {
        "\(self.decimal(value, places: 2))×"
    }

    /// Nanoseconds: one decimal below 100, none above.
    static func nanoseconds(_ value: Double) -> String {
        value < 100 ? self.decimal(value, places: 1) : self.grouped(Int(value.rounded()))
    }

    /// A rate with a metric prefix: `2.18 M`, `950 k`.
    static func rate(_ value: Double) -> String {
        switch value {
        case 1e9...: "\(self.decimal(value / 1e9, places: 2)) G"
        case 1e6...: "\(self.decimal(value / 1e6, places: 2)) M"
        case 1e3...: "\(self.decimal(value / 1e3, places: 1)) k"
        default: self.decimal(value, places: 0)
        }
    }

    /// Megabytes per second: one decimal below 100, none above.
    static func megabytes(_ value: Double) -> String {
        value < 100 ? self.decimal(value, places: 1) : self.grouped(Int(value.rounded()))
    }

    /// `value` rounded to `places` decimals, without Foundation.
    static func decimal(_ value: Double, places: Int) -> String {
        guard value.isFinite else { return "–" }
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        let scaled = Int((abs(value) * scale).rounded())
        let whole = scaled / Int(scale)
        let sign = value < 0 && scaled != 0 ? "-" : ""
        guard places > 0 else { return "\(sign)\(whole)" }
        let fraction = String(scaled % Int(scale))
        return "\(sign)\(whole).\(String(repeating: "0", count: places - fraction.count))\(fraction)"
    }

    /// An integer with thin spaces between groups of three digits: `17 000`.
    static func grouped(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var grouped = ""
        for (position, digit) in digits.enumerated() {
            if position > 0, (digits.count - position) % 3 == 0 { grouped.append(" ") }
            grouped.append(digit)
        }
        return (value < 0 ? "-" : "") + grouped
    }
}
