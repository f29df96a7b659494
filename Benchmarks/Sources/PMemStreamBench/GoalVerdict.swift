/// Where a session stands against one goal of DESIGN.md §8.
struct GoalVerdict: Encodable, Sendable {
    /// The goal, as DESIGN.md §8 states it.
    let goal: String
    /// The figure that decides it: the worst over the sizes it covers, and where.
    let measured: String
    /// Whether the goal is met; `nil` when the session did not measure what it needs.
    let met: Bool?

    /// "met", "not met" or "not measured".
    var verdict: String {
        switch self.met {
        case true?: "met"
        case false?: "**not met**"
        case nil: "not measured"
        }
    }
}
