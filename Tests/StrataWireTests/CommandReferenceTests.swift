import Foundation
import StrataWire
import Testing

/// The README's command list is the table's: regenerate it with
/// `Scripts/readme-commands.sh`.
@Suite("Command reference")
struct CommandReferenceTests {
    @Test("the README's command list and docs/architecture.md's cluster commands are exactly the ones generated from the command table", arguments: [
        ("README.md", CommandReference.userGroups), ("docs/architecture.md", CommandReference.clusterGroups),
    ])
    func documentMatchesTable(path: String, groups: [CommandGroup]) throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let document = try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
        let begin = try #require(document.range(of: CommandReference.beginMarker + "\n"), "\(path) has no commands:begin marker")
        let end = try #require(document.range(of: CommandReference.endMarker, range: begin.upperBound..<document.endIndex))
        let section = String(document[begin.upperBound..<end.lowerBound])
        #expect(section == CommandReference.markdown(groups: groups), "\(path)'s command list is stale: run Scripts/readme-commands.sh")
    }

    @Test("every command of the table appears in the reference, subcommands by their container")
    func everyCommandListed() {
        let reference = CommandReference.markdown()
        for spec in CommandTable.allSpecs {
            for row in spec.subcommands.isEmpty ? [spec] : spec.subcommands {
                let name = row.name.split(separator: "|").map { $0.uppercased() }.joined(separator: " ")
                #expect(reference.contains("| `\(name)"), "\(name) is missing")
            }
        }
    }
}
