"""The partner side: SDK client, earn rules, settlement maths and statements."""
