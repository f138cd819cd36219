/// A problem with how MelForge was asked to work (an option's value, a combination of
/// inputs), found while working: the message names the option or file, the bad value and
/// what would be accepted.
public struct UsageError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A problem with the content of an input file.
public struct InputError: Error, CustomStringConvertible {
    public var file: String
    public var problem: String
    public init(file: String, problem: String) {
        self.file = file
        self.problem = problem
    }
    public var description: String { "'\(file)' \(problem)" }
}
