import ArgumentParser

/// The `osprey` executable: the daemon and its offline tools.
@main
struct OspreyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "osprey",
        abstract: "Streaming scoring daemon: Kafka events in, windowed features, gradient-boosted-tree decisions out.",
        subcommands: [RunCommand.self, ValidateCommand.self, PredictCommand.self, BackfillCommand.self, CheckpointCommand.self]
    )
}
