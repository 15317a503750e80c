import ArgumentParser

@main
struct Capstan: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capstan",
        abstract: "A Raft key-value store that speaks etcd's v3 API.",
        subcommands: [Simulate.self, Debug.self]
    )
}
