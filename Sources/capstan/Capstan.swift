import ArgumentParser

@main
struct Capstan: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capstan",
        abstract: "A Raft key-value store that speaks etcd's v3 API, and the Kubernetes API on top.",
        subcommands: [
            Dev.self, Store.self, APIServerCommand.self, SnapshotCommand.self, BenchCommand.self, Simulate.self, RobustnessCommand.self,
            FuzzCommand.self,
            Debug.self
        ]
    )

    static func main() async {
        await main(etcdBooleans(Array(CommandLine.arguments.dropFirst())))
    }

    /// etcd's boolean flags, which Go's flag package also takes as `--flag=true` or `--flag=false`
    /// (kubeadm writes `--client-cert-auth=true`): turned into the bare flag, or dropped.
    static let booleanFlags: Set<String> = ["--client-cert-auth", "--peer-client-cert-auth"]

    static func etcdBooleans(_ arguments: [String]) -> [String] {
        arguments.compactMap { argument in
            guard let equals = argument.firstIndex(of: "="), booleanFlags.contains(String(argument[..<equals])) else { return argument }
            switch argument[argument.index(after: equals)...] {
            case "true", "1": return String(argument[..<equals])
            case "false", "0": return nil
            default: return argument  // left for the parser to refuse
            }
        }
    }
}
