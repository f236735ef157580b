"""marshmallow schemas: the wire format only (In = request bodies, Out = answers, Args = query)."""
