/// Where a session stands against one goal of DESIGN.md §8.
///
/// A goal covers a range of entry sizes: the default `--sizes` within it (``Plan/defaultSizes``). It is met
/// only when every one of them was measured and met it.
struct GoalVerdict: Encodable, Sendable {
    /// What the session's figures say of the goal.
    enum Outcome: String, Encodable, Sendable {
        /// Measured at every size the goal covers, and met at each.
        case met
        /// Missed at one measured size or more, whatever was not measured.
        case notMet = "not met"
        /// Met at every size measured, but some sizes the goal covers were not measured.
        case metWhereMeasured = "met at the sizes measured"
        /// No size the goal covers was measured.
        case notMeasured = "not measured"
    }

    private enum CodingKeys: String, CodingKey {
        case goal, measured, met, outcome, measuredSizes, unmeasuredSizes
    }

    /// The goal, as DESIGN.md §8 states it.
    let goal: String
    /// The figure that decides it: the worst over the sizes measured, and where.
    let measured: String
    /// The sizes, in bytes, the goal has a figure for.
    let measuredSizes: [Int]
    /// The sizes, in bytes, the goal covers but has no figure for.
    let unmeasuredSizes: [Int]
    /// The verdict.
    let outcome: Outcome

    /// Whether the goal is met: `nil` unless the figures decide it, that is unless every size the goal covers
    /// was measured or a measured one missed it.
    var met: Bool? {
        switch self.outcome {
        case .met: true
        case .notMet: false
        case .metWhereMeasured, .notMeasured: nil
        }
    }

    /// The verdict for the table: "met", "**not met**", "not measured", or "met at the sizes measured (…); …
    /// not measured".
    var verdict: String {
        switch self.outcome {
        case .met, .notMeasured: self.outcome.rawValue
        case .notMet: "**\(self.outcome.rawValue)**"
        case .metWhereMeasured:
            "\(self.outcome.rawValue) (\(Self.list(self.measuredSizes))); \(Self.list(self.unmeasuredSizes)) not measured"
        }
    }

    /// Writes every field, `met` as `null` when the figures do not decide the goal.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.goal, forKey: .goal)
        try container.encode(self.measured, forKey: .measured)
        try container.encode(self.met, forKey: .met)
        try container.encode(self.outcome, forKey: .outcome)
        try container.encode(self.measuredSizes, forKey: .measuredSizes)
        try container.encode(self.unmeasuredSizes, forKey: .unmeasuredSizes)
    }

    /// `8 B, 64 B, 1 KiB`.
    private static func list(_ sizes: [Int]) -> String {
        sizes.map { "\(ByteCount($0))" }.joined(separator: ", ")
    }
}
