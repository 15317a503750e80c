import ArgumentParser

@main
struct Capstan: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capstan",
        abstract: "A Raft key-value store that speaks etcd's v3 API.",
        subcommands: [Dev.self, Store.self, SnapshotCommand.self, BenchCommand.self, Simulate.self, Debug.self]
    )
}
