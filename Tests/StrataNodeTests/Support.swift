import NIOCore
import StrataWire

/// A command from text arguments.
func StrataWireCommand(_ arguments: String...) -> RESPCommand {
    RESPCommand(arguments: arguments.map { ByteBuffer(string: $0) })
}
