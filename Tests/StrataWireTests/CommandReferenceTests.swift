import Foundation
import StrataWire
import Testing

/// The README's command list is the table's: regenerate it with
/// `Scripts/readme-commands.sh`.
@Suite("Command reference")
struct CommandReferenceTests {
    @Test("the README's command list is exactly the one generated from the command table")
    func readmeMatchesTable() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let begin = try #require(readme.range(of: CommandReference.beginMarker + "\n"), "README.md has no commands:begin marker")
        let end = try #require(readme.range(of: CommandReference.endMarker, range: begin.upperBound..<readme.endIndex))
        let section = String(readme[begin.upperBound..<end.lowerBound])
        #expect(section == CommandReference.markdown(), "README's command list is stale: run Scripts/readme-commands.sh")
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
