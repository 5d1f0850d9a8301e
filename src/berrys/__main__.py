from berrys.cli import main

main()
